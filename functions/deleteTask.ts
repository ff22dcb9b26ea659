import { taskDeps } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { cancelTask } from '../lib/tasks/taskService';

export const handler = apiHandler(async (req) => json(200, await cancelTask(taskDeps(req.context), req.tenant, req.params.taskId)));
