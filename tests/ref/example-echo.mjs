// Node reference for examples/echo.c: see examples.mjs.
import { run } from './examples.mjs';

run('echo');
