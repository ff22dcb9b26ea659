import { app, type App } from '../lib/app';
import { apiHandler, json } from '../lib/api/handler';
import { listRecipients } from '../lib/tasks/recipients';

export const handlerFor = (root: () => App) =>
  apiHandler(
    (context) => root().deps(context),
    async (req, deps) => json(200, await listRecipients(deps, req.tenant, req.params.taskId, req.query)),
  );

export const handler = handlerFor(app);
