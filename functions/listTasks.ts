import { taskStore } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { listTasks } from '../lib/tasks/taskService';

export const handler = apiHandler(async (req) => json(200, await listTasks({ store: taskStore() }, req.tenant, req.query)));
