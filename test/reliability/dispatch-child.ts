/** A dispatcher in its own process, so a test can kill it mid-call (argv: taskId). */
import { handler } from '../../functions/dispatchStep';
import { lambdaContext } from '../helpers/env';

void handler({ kind: 'dispatch', tenantId: 'a', taskId: process.argv[2] as string, step: 0 }, lambdaContext('dispatchStep'));
