/** A callback delivery in its own process, so a test can kill it mid-request (argv: taskId). */
import { handler } from '../../functions/deliverCallback';
import { lambdaContext } from '../helpers/env';

void handler({ kind: 'callback', tenantId: 'a', taskId: process.argv[2] as string }, lambdaContext('deliverCallback'));
