import { taskDeps } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { patchTask } from '../lib/tasks/taskService';

export const handler = apiHandler(async (req) => json(200, await patchTask(taskDeps(req.context), req.tenant, req.params.taskId, req.body)), { body: true });
