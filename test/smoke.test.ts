import t from 'tap';
import { x } from '../ts/index.js';
t.equal(x, 1);
