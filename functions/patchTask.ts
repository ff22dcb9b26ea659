import { taskDeps } from '../lib/deps';
import { apiHandler, json } from '../lib/http';
import { patchTask } from '../lib/tasks';

export const handler = apiHandler(async (req) => json(200, await patchTask(taskDeps(req.context), req.tenant, req.params.taskId, req.body)), { body: true });
