// Node reference for examples/uvloop.c: see examples.mjs.
import { run } from './examples.mjs';

run('uvloop');
