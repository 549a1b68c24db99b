import { hubspot } from "@hubspot/ui-extensions";
import { ConversationCard } from "./ConversationCard";
import { MMS_CONNECTOR_URL } from "./config";

// The card's only door to the connector is hubspot.fetch(): HubSpot signs each request with the
// app's client secret, so the card holds no token.
hubspot.extend<"crm.record.sidebar">(() => (
  <ConversationCard fetcher={hubspot.fetch} connectorUrl={MMS_CONNECTOR_URL} />
));
