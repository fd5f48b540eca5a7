// ESLint for the browser code (static/js) and the build tool (tools/): the recommended
// rules plus a few that catch what review kept finding — unused values, swallowed
// errors (an empty catch), `==`, `var`, console calls outside the logging helper, and
// functions over 60 lines (the limit tools/function_lengths.py also holds Python to).
// Generated bundles and vendored code are never linted (static/dist, node_modules).
import js from "@eslint/js";
import globals from "globals";

export default [
  { ignores: ["static/dist/**", "static/dist.*/**", "node_modules/**", "staticfiles/**", "var/**",
              ".venv/**"] },
  js.configs.recommended,
  {
    files: ["static/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2024,
      sourceType: "module",
      globals: {
        ...globals.browser,
        ...globals.worker,
        // Replaced by tools/bundle.mjs at build time (the scrypt work-factor floor).
        __SECURECHAT_WORK_FACTOR_FLOOR__: "readonly",
      },
    },
  },
  {
    files: ["tools/**/*.mjs", "eslint.config.js", "tests/**/*.js", "tests/**/*.mjs", "bench/**/*.mjs"],
    languageOptions: { ecmaVersion: 2024, sourceType: "module", globals: { ...globals.node } },
  },
  {
    rules: {
      "no-unused-vars": ["error", { args: "after-used", argsIgnorePattern: "^_",
                                    caughtErrors: "none", ignoreRestSiblings: true }],
      "no-empty": ["error", { allowEmptyCatch: false }],
      eqeqeq: ["error", "always"],
      "no-var": "error",
      "prefer-const": "error",
    },
  },
  {
    files: ["static/js/**/*.js", "tools/**/*.mjs", "bench/**/*.mjs"],
    rules: { "max-lines-per-function": ["error", { max: 60 }] },
  },
  // Background failures go through static/js/common/log.js (issue 18: one helper, one
  // message shape); it is the only browser module that may touch the console.
  { files: ["static/js/**/*.js"], rules: { "no-console": "error" } },
  { files: ["static/js/common/log.js"], rules: { "no-console": "off" } },
];
