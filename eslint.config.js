// @ts-check
const tseslint = require('typescript-eslint');
const { builtinModules } = require('node:module');

/** Code the workflow sandbox must never load: Node built-ins, I/O clients, the client/worker SDKs. */
const notInWorkflows = [
  ...builtinModules.flatMap((m) => [m, `node:${m}`]),
  'typeorm',
  'pg',
  'ioredis',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
  '@temporalio/testing',
];

module.exports = tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.tools/**', '.data/**', 'bench/out/**', 'coverage/**', '*.js'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      // Type-only imports are erased and allowed; values from these packages would break determinism.
      '@typescript-eslint/no-restricted-imports': [
        'error',
        { paths: notInWorkflows.map((name) => ({ name, message: 'not in workflow code: side effects belong in activities', allowTypeImports: true })) },
      ],
    },
  },
);
