// Loaded by mocha before any test file (.mocharc.json "require"): routers, sources and proxies started in-process
// log through the shared pino logger, whose level comes from LOG_LEVEL when it is first imported. A passing run
// prints no log lines; set LOG_LEVEL (e.g. LOG_LEVEL=debug npx mocha FILE) to see them while debugging. Child
// processes that the tests read logs from set their own LOG_LEVEL.
'use strict';
process.env.LOG_LEVEL ??= 'silent';
