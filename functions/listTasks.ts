import { taskStore } from '../lib/deps';
import { apiHandler, json } from '../lib/http';
import { listTasks } from '../lib/tasks';

export const handler = apiHandler(async (req) => json(200, await listTasks({ store: taskStore() }, req.tenant, req.query)));
