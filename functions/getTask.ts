import { taskStore } from '../lib/deps';
import { apiHandler, json } from '../lib/http';
import { getTask } from '../lib/tasks';

export const handler = apiHandler(async (req) => json(200, await getTask({ store: taskStore() }, req.tenant, req.params.taskId)));
