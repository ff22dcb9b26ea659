/** The activity page (GET /console, /console/{asset}): static files built from console/ at package time. No data, no App. */
import assets from 'console-assets';
import { consoleHandler, type ConsoleAssets } from '../lib/api/console';

export const handlerFor = (files: ConsoleAssets) => consoleHandler(files);

export const handler = handlerFor(assets);
