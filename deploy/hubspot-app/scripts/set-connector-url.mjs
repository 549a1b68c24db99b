#!/usr/bin/env node
// Points the card at your connector: `npm run set-url -- https://mms.acme.com` writes the
// address into the card (src/app/cards/config.ts) and into the app's permittedUrls
// (fetch, iframe, img), which must agree or HubSpot refuses the card's requests.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export function connectorOrigin(raw) {
  let url;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`not a URL: ${raw}`);
  }
  if (url.protocol !== "https:")
    throw new Error("the connector's URL must be https (CONNECTOR_PUBLIC_URL)");
  if (url.pathname !== "/" || url.search || url.hash) {
    throw new Error("give the connector's origin only, e.g. https://mms.acme.com");
  }
  return url.origin;
}

export function setConnectorUrl(root, raw) {
  const origin = connectorOrigin(raw);
  const configPath = join(root, "src/app/cards/config.ts");
  const config = readFileSync(configPath, "utf8");
  const updated = config.replace(
    /MMS_CONNECTOR_URL = "[^"]*";/,
    `MMS_CONNECTOR_URL = "${origin}";`,
  );
  if (updated === config && !config.includes(`MMS_CONNECTOR_URL = "${origin}";`)) {
    throw new Error(`${configPath}: no MMS_CONNECTOR_URL line to change`);
  }
  writeFileSync(configPath, updated);
  const appPath = join(root, "src/app/app-hsmeta.json");
  const app = JSON.parse(readFileSync(appPath, "utf8"));
  app.config.permittedUrls = { fetch: [origin], iframe: [origin], img: [origin] };
  writeFileSync(appPath, `${JSON.stringify(app, null, 2)}\n`);
  return origin;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const raw = process.argv[2];
  if (!raw) {
    console.error("usage: npm run set-url -- https://mms.example.com");
    process.exit(2);
  }
  try {
    const origin = setConnectorUrl(join(dirname(fileURLToPath(import.meta.url)), ".."), raw);
    console.log(`The card now calls ${origin}; run \`hs project upload\` to deploy it.`);
  } catch (error) {
    console.error(error.message);
    process.exit(1);
  }
}
