import { createRoute, z } from '@hono/zod-openapi';
import { UserStore } from '../../db/stores/users';
import { issueAccessToken } from '../auth';
import type { AppDeps } from '../deps';
import { limited, router } from '../router';
import { ActionLimit, actionLimits } from '../rate-limit';
import { problems, rateLimited, Text } from '../schemas';

const CreateUser = z.object({ name: Text(1, 100).openapi({ example: 'Kim' }) }).openapi('CreateUser');
const CreatedUser = z.object({ userId: z.string(), name: z.string(), accessToken: z.string() }).openapi('CreatedUser');

const createUser = createRoute({
  method: 'post',
  path: '/users',
  tags: ['Users'],
  summary: 'Create a user and its wallet; returns an access token',
  request: { body: { required: true, content: { 'application/json': { schema: CreateUser } } } },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: CreatedUser } } }, ...problems(400, 413, 503), ...rateLimited },
});

export function usersRoutes(deps: AppDeps) {
  const app = router();
  const users = new UserStore(deps.db);
  // Accounts are free, so per-user limits would be defeated by minting users: signing up is limited per address.
  const signupLimit = new ActionLimit(deps.redis, 'signup', actionLimits(deps.config, 'signup'));
  return app.openapi(limited(createUser, signupLimit), async (c) => {
    const { name } = c.req.valid('json');
    const user = await users.create(name);
    const accessToken = await issueAccessToken(user.id, deps.config.AUTH_SECRET, deps.config.ACCESS_TOKEN_TTL_SECONDS);
    return c.json({ userId: user.id, name: user.name, accessToken }, 201);
  });
}
