/**
 * One structured logger (Powertools) for every function. Nothing secret is ever passed to it:
 * vendor requests are logged by path only, never with tokens, keys or bodies.
 */
import { Logger } from '@aws-lambda-powertools/logger';

export const logger = new Logger({ serviceName: 'qunfa', logLevel: (process.env.LOG_LEVEL as 'INFO' | undefined) ?? 'INFO' });
