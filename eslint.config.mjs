// @ts-check
// ESLint: the recommended JavaScript and type-aware typescript-eslint rules, tuned where they are noise here.
// Formatting is Prettier's (eslint-config-prettier, last, turns off every rule it owns); layers and cycles are
// dependency-cruiser's (.dependency-cruiser.cjs).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

/** Test code and its doubles: the fixtures and the vendor sandboxes read loosely typed JSON on purpose. */
const TEST_CODE = ['test/**', 'scripts/**', 'lib/**/*.test.ts', 'lib/vendors/*/sandbox.ts', 'lib/vendors/kit/sandboxServer.ts'];

export default tseslint.config(
  { ignores: ['node_modules/', '.serverless/', '.esbuild/', '.esbuild-*/', '.data/', '.bench/', 'coverage/'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `_` marks a binding kept on purpose (a field dropped by destructuring, an unused parameter).
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // Async functions that do not await implement Promise-returning interfaces (stores, directories, adapters).
      '@typescript-eslint/require-await': 'off',
      // String(x) of an `unknown` vendor reply field is how adapters turn whatever a vendor said into text.
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    // The activity page runs in a browser (console/tsconfig.json: the DOM, no Node).
    files: ['console/**/*.ts'],
    languageOptions: { globals: globals.browser },
  },
  {
    // The AWS SDK clients are required on first use so a cold start pays only for the clients it calls.
    files: ['lib/infra/awsClients.ts'],
    rules: { '@typescript-eslint/no-require-imports': ['error', { allow: ['^@aws-sdk/'] }] },
  },
  {
    // The Tracer (with the X-Ray SDK) is required only where tracing is on: a function with it off never loads it.
    files: ['lib/infra/xray.ts'],
    rules: { '@typescript-eslint/no-require-imports': ['error', { allow: ['^@aws-lambda-powertools/tracer'] }] },
  },
  {
    files: TEST_CODE,
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
    },
  },
  { files: ['**/*.{js,mjs,cjs}'], extends: [tseslint.configs.disableTypeChecked] },
  // CommonJS files (serverless.yml's resolvers, the cruiser's config) load with require.
  { files: ['**/*.cjs'], languageOptions: { sourceType: 'commonjs' }, rules: { '@typescript-eslint/no-require-imports': 'off' } },
  prettier,
);
