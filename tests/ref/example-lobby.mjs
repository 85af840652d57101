// Node reference for examples/lobby.c: see examples.mjs.
import { run } from './examples.mjs';

run('lobby');
