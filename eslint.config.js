// Type-aware lint (typescript-eslint) over everything tsc compiles. Formatting is prettier's job
// (eslint-config-prettier turns off the rules that would fight it). `npm run lint` runs both with
// zero warnings allowed; CI (.ci/run) runs it before the tests.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'chart/**', 'coverage/**', '.zt-authz-demo/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // Unused names are mistakes, except the deliberate `_`-prefixed ones (ignored parameters, rest siblings).
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
      // A promise that is neither awaited nor `void`ed hides its rejection: in a service that must fail closed, always an error.
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test()/describe()/it() return promises the runner itself awaits.
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['test', 'describe', 'it', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // Matching control characters is the point of several checks (header values, paths, log lines).
      'no-control-regex': 'off',
    },
  },
  {
    // Small files that hold one thing: a file in src/ that outgrows this is split by concern.
    files: ['src/**/*.ts'],
    rules: { 'max-lines': ['error', { max: 450, skipBlankLines: true, skipComments: true }] },
  },
  {
    // Configuration is the bottom layer: every other folder reads config types, config reads none
    // of theirs (so loading and validating a file never drags in the engine, Kubernetes or a listener).
    files: ['src/config/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: '^\\.\\./(?!errors\\.js$)', message: 'src/config/ imports nothing from other src/ folders (only ../errors.js).' },
          ],
        },
      ],
    },
  },
  {
    // Tests read parsed YAML/JSON (rendered Helm manifests, admission reviews, API responses) as
    // `any` on purpose and assert on its shape; typing every fixture would only restate the asserts.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
      // Test doubles implement async interfaces without awaiting; assertion messages interpolate anything.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      // node:assert compares methods by reference (assert.equal(x.method, ...)); nothing is called unbound.
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    // The bench prints whatever it measured.
    files: ['bench/**/*.ts'],
    rules: { '@typescript-eslint/restrict-template-expressions': 'off' },
  },
  {
    // Plain JS (scripts, this file): no type information.
    files: ['**/*.{js,mjs,cjs}'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        URL: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        AbortController: 'readonly',
      },
    },
  },
  prettier,
);
