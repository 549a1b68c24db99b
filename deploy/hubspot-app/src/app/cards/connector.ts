/**
 * The connector's read model of a contact (GET /v1/records/hubspot/contact/{id}/conversation)
 * and how the card asks for it. The card holds no token: `hubspot.fetch()` makes HubSpot sign
 * the request (X-HubSpot-Signature-v3) and add the portal and user, which the connector checks.
 */

export interface Medium {
  name: string;
  content_type: string | null;
  size: number | null;
  state: "pending" | "stored" | "unsupported" | "unavailable" | "expired";
  url: string | null;
  thumbnail_url: string | null;
  notice: string | null;
}

export interface ConversationMessage {
  id: number;
  thread_id: number;
  direction: "inbound" | "outbound";
  text: string;
  sent_at: string;
  status: string;
  status_label: string;
  line_number: string;
  line_label: string;
  other_party: string;
  media: Medium[];
  previews: number;
  more: number;
  loading: number;
  alerts: string[];
}

export interface ConversationLink {
  thread_id: number;
  line_number: string;
  line_label: string;
  other_party: string;
  url: string;
}

export interface Composer {
  url: string;
  to: string;
  expires_at: string;
}

export interface RecordConversation {
  record: { crm: string; object: string; id: string };
  numbers: string[];
  messages: ConversationMessage[];
  next_before: number | null;
  conversations: ConversationLink[];
  composer: Composer | null;
  send_refusal: string | null;
  preview_count: number;
}

/** `hubspot.fetch`'s shape: tests pass recorded answers through the same door. */
export type Fetcher = (
  url: string,
  options?: { method?: "GET"; timeout?: number },
) => Promise<Response>;

export class ConnectorError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const PAGE_SIZE = 5;

export function conversationUrl(
  base: string,
  contactId: string | number,
  options: { to?: string | null; before?: number | null } = {},
): string {
  const url = new URL(
    `/v1/records/hubspot/contact/${encodeURIComponent(String(contactId))}/conversation`,
    base,
  );
  url.searchParams.set("limit", String(PAGE_SIZE));
  if (options.to) url.searchParams.set("to", options.to);
  if (options.before) url.searchParams.set("before", String(options.before));
  return url.toString();
}

/** What a refusal means to a rep, from the connector's status and its `detail`. */
function problem(status: number, detail: string | undefined): string {
  if (status === 401 || status === 403) {
    return `The MMS connector refused this card (${detail ?? status}). Ask your administrator to check the app's client secret and portal.`;
  }
  if (status === 429 || status >= 500) {
    return "The MMS connector is busy or unreachable. Try again in a moment.";
  }
  return detail ?? `The MMS connector answered ${status}.`;
}

export async function loadConversation(fetcher: Fetcher, url: string): Promise<RecordConversation> {
  let response: Response;
  try {
    response = await fetcher(url, { method: "GET", timeout: 10_000 });
  } catch {
    throw new ConnectorError(0, "The MMS connector could not be reached. Try again in a moment.");
  }
  if (!response.ok) {
    let detail: string | undefined;
    try {
      const body = (await response.json()) as { detail?: unknown };
      detail = typeof body.detail === "string" ? body.detail : undefined;
    } catch {
      detail = undefined;
    }
    throw new ConnectorError(response.status, problem(response.status, detail));
  }
  return (await response.json()) as RecordConversation;
}

/** A composer link still good for a minute: the card reloads the read model otherwise. */
export function composerFresh(composer: Composer, now: number = Date.now()): boolean {
  return Date.parse(composer.expires_at) - now > 60_000;
}
