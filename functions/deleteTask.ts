import { taskDeps } from '../lib/deps';
import { apiHandler, json } from '../lib/http';
import { cancelTask } from '../lib/tasks';

export const handler = apiHandler(async (req) => json(200, await cancelTask(taskDeps(req.context), req.tenant, req.params.taskId)));
