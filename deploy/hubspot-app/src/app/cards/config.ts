/**
 * The connector's public address (CONNECTOR_PUBLIC_URL). It must also be listed in
 * `app-hsmeta.json` (`permittedUrls`): `npm run set-url -- https://mms.acme.com` changes both.
 */
export const MMS_CONNECTOR_URL = "https://mms.example.com";
