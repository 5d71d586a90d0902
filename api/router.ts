import { OpenAPIHono } from '@hono/zod-openapi';
import type { AppEnv } from './deps';
import { problemOf, problemResponse } from './problem';

/** A sub-app whose request validation failures answer 400 VALIDATION_FAILED as problem+json. */
export function router(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result, c) => {
      if (!result.success) {
        const detail = result.error.issues
          .map((issue) => `${issue.path.length ? issue.path.join('.') : result.target}: ${issue.message}`)
          .join('; ');
        return problemResponse(c, problemOf('VALIDATION_FAILED', detail));
      }
    },
  });
}
