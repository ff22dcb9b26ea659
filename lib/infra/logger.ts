/**
 * One structured logger (Powertools) for every function. Nothing secret is ever passed to it:
 * vendor requests are logged by path only, never with tokens, keys or bodies.
 */
import { Logger } from '@aws-lambda-powertools/logger';

/** Its level comes from POWERTOOLS_LOG_LEVEL or LOG_LEVEL, read by Powertools itself (INFO when unset). */
export const logger = new Logger({ serviceName: 'qunfa' });
