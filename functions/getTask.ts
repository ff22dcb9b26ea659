import { taskStore } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { getTask } from '../lib/tasks/taskService';

export const handler = apiHandler(async (req) => json(200, await getTask({ store: taskStore() }, req.tenant, req.params.taskId)));
