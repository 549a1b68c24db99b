/**
 * The card rendered by the UI extensions SDK's test renderer against answers recorded from the
 * connector (tests/fixtures, checked against the connector's schema by the Python suite):
 * empty, messages with media, refusals, opted-out contacts and the connector's errors.
 */

import { readFileSync } from "node:fs";
import {
  Alert,
  Button,
  EmptyState,
  ErrorState,
  Image,
  Link,
  LoadingSpinner,
  StatusTag,
  Tag,
  Text,
} from "@hubspot/ui-extensions";
import { createRenderer } from "@hubspot/ui-extensions/testing";
import { describe, expect, it, vi } from "vitest";
import { COMPOSER_SIZE, ConversationCard } from "../src/app/cards/ConversationCard";
import type { Composer, Fetcher, RecordConversation } from "../src/app/cards/connector";

const CONNECTOR = "https://mms.example.com";

function recorded(name: string): RecordConversation {
  const url = new URL(`./fixtures/${name}.json`, import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")) as RecordConversation;
}

function composerOf(answer: RecordConversation): Composer {
  if (!answer.composer) throw new Error("this fixture has no composer");
  return answer.composer;
}

/** A fetcher answering each call with the next (status, body); it remembers the URLs asked. */
function connector(...answers: Array<[number, unknown]>) {
  const urls: string[] = [];
  const fetcher: Fetcher = async (url) => {
    urls.push(url);
    const next = answers.shift();
    if (!next) throw new Error(`no recorded answer left for ${url}`);
    const [status, body] = next;
    return new Response(JSON.stringify(body), {
      status,
      headers: { "Content-Type": "application/json" },
    });
  };
  return { fetcher, urls };
}

function renderCard(
  fetcher: Fetcher,
  phones: Record<string, string> = { mobilephone: "+14155552671" },
) {
  const renderer = createRenderer("crm.record.sidebar");
  renderer.mocks.useCrmProperties.willCall(() => ({
    properties: { mobilephone: "", phone: "", ...phones },
    error: null,
    isLoading: false,
    isRefetching: false,
    refetch: async () => {},
  }));
  renderer.render(<ConversationCard fetcher={fetcher} connectorUrl={CONNECTOR} />);
  return renderer;
}

async function loaded(renderer: ReturnType<typeof renderCard>) {
  await renderer.waitFor(() => {
    expect(renderer.maybeFind(LoadingSpinner)).toBeNull();
  });
}

describe("the MMS card", () => {
  it("asks the connector for this contact, with its phone, through hubspot.fetch", async () => {
    const { fetcher, urls } = connector([200, recorded("empty")]);
    const card = renderCard(fetcher, { phone: "(415) 555-2671" });
    expect(card.find(LoadingSpinner).props.label).toBe("Loading messages…");
    await loaded(card);
    expect(urls).toEqual([
      `${CONNECTOR}/v1/records/hubspot/contact/123/conversation?limit=5&to=%28415%29+555-2671`,
    ]);
  });

  it("shows an empty state and a Send MMS button that opens the composer in a 420 px modal", async () => {
    const answer = recorded("empty");
    answer.composer = {
      ...composerOf(answer),
      expires_at: new Date(Date.now() + 3_600_000).toISOString(),
    };
    const card = renderCard(connector([200, answer]).fetcher);
    await loaded(card);
    expect(card.find(EmptyState).props.title).toBe("No MMS yet");
    const send = card.findByTestId(Button, "send");
    expect(send.props.disabled).toBe(false);
    send.trigger("onClick");
    await vi.waitFor(() => expect(card.mocks.actions.openIframeModal.callCount).toBe(1));
    const [payload] = card.mocks.actions.openIframeModal.calls[0];
    expect(payload).toEqual({
      uri: composerOf(answer).url,
      title: "Send MMS",
      flush: true,
      width: COMPOSER_SIZE.width,
      height: COMPOSER_SIZE.height,
    });
    expect(COMPOSER_SIZE.width).toBe(420);
  });

  it("asks for a fresh composer link when the one it holds has expired", async () => {
    const stale = recorded("empty");
    stale.composer = {
      ...composerOf(stale),
      url: `${CONNECTOR}/compose?token=old`,
      expires_at: "2020-01-01T00:00:00Z",
    };
    const fresh = recorded("empty");
    fresh.composer = {
      ...composerOf(fresh),
      url: `${CONNECTOR}/compose?token=new`,
      expires_at: "2999-01-01T00:00:00Z",
    };
    const { fetcher, urls } = connector([200, stale], [200, fresh]);
    const card = renderCard(fetcher);
    await loaded(card);
    card.findByTestId(Button, "send").trigger("onClick");
    // The renderer's waitFor re-checks on renders; the modal opens after the last one.
    await vi.waitFor(() => expect(card.mocks.actions.openIframeModal.callCount).toBe(1));
    expect(urls).toHaveLength(2);
    expect(card.mocks.actions.openIframeModal.calls[0][0].uri).toBe(
      `${CONNECTOR}/compose?token=new`,
    );
  });

  it("lists messages newest first with thumbnails, Loading…, the alerts and the status", async () => {
    const answer = recorded("messages-with-media");
    const card = renderCard(connector([200, answer]).fetcher);
    await loaded(card);
    const [outbound, inbound] = answer.messages;
    expect(card.findByTestId(Text, `text-${outbound.id}`).text).toBe(outbound.text);
    expect(card.find(StatusTag).text).toBe("Sent");
    const images = card.findAll(Image);
    expect(images.map((image) => image.props.src)).toEqual(
      inbound.media.filter((m) => m.thumbnail_url).map((m) => m.thumbnail_url),
    );
    expect(images).toHaveLength(3);
    expect(card.findByTestId(Text, `loading-${inbound.id}`).text).toBe("Loading…");
    expect(card.findAll(Alert).map((alert) => alert.props.title)).toEqual([
      "Some media cannot be received due to unsupported format.",
      "Some media is unavailable due to an error",
    ]);
    const whole = card.findByTestId(Link, `conversation-${answer.conversations[0].thread_id}`);
    expect(whole.text).toBe("View whole conversation");
    expect(whole.props.href).toEqual({ url: answer.conversations[0].url, external: true });
  });

  it("shows the preview count's thumbnails and counts the rest as +N", async () => {
    const answer = recorded("messages-with-media");
    const inbound = answer.messages[1];
    const picture = inbound.media[0];
    inbound.media = Array.from({ length: 7 }, (_, n) => ({
      ...picture,
      name: `p${n}.png`,
      url: `${picture.url}${n}`,
      thumbnail_url: `${picture.url}${n}`,
    }));
    Object.assign(inbound, { previews: 4, more: 3, loading: 0, alerts: [] });
    const card = renderCard(connector([200, answer]).fetcher);
    await loaded(card);
    expect(card.findAll(Image)).toHaveLength(answer.preview_count);
    expect(card.findByTestId(Tag, `more-${inbound.id}`).text).toBe("+3");
  });

  it("pages back with Older messages", async () => {
    const first = recorded("messages-with-media");
    first.next_before = first.messages[1].id;
    const second = recorded("messages-with-media");
    second.messages = [{ ...second.messages[0], id: 99, text: "An older one" }];
    second.next_before = null;
    const { fetcher, urls } = connector([200, first], [200, second]);
    const card = renderCard(fetcher);
    await loaded(card);
    card.findByTestId(Button, "older").trigger("onClick");
    await card.waitFor(() => expect(card.findByTestId(Text, "text-99").text).toBe("An older one"));
    expect(urls[1]).toContain(`before=${first.messages[1].id}`);
    expect(card.maybeFindByTestId(Button, "older")).toBeNull();
  });

  it.each(["refused", "opted-out"])(
    "says why nothing can be sent (%s) and disables Send",
    async (name) => {
      const answer = recorded(name);
      const card = renderCard(connector([200, answer]).fetcher);
      await loaded(card);
      const alert = card.find(Alert, { title: "You cannot send an MMS now" });
      expect(alert.text).toBe(answer.send_refusal);
      expect(card.findByTestId(Button, "send").props.disabled).toBe(true);
    },
  );

  it("disables Send when the contact has no number", async () => {
    const card = renderCard(connector([200, recorded("no-number")]).fetcher, {});
    await loaded(card);
    expect(card.findByTestId(Button, "send").props.disabled).toBe(true);
    expect(card.find(Alert).text).toBe("This record has no phone number to send an MMS to.");
  });

  it.each([
    [
      401,
      { detail: "the signed request is older than 5 minutes" },
      "refused this card (the signed request is older than 5 minutes)",
    ],
    [503, { detail: "down" }, "busy or unreachable"],
    [429, {}, "busy or unreachable"],
  ])("shows the connector's %i as an error with Try again", async (status, body, words) => {
    const { fetcher, urls } = connector([status, body], [200, recorded("empty")]);
    const card = renderCard(fetcher);
    await loaded(card);
    expect(card.find(ErrorState).props.title).toBe("MMS could not be loaded");
    expect(card.findByTestId(Text, "error").text).toContain(words);
    card.findByTestId(Button, "retry").trigger("onClick");
    await card.waitFor(() => expect(card.maybeFind(EmptyState)).not.toBeNull());
    expect(urls).toHaveLength(2);
    expect(card.maybeFind(ErrorState)).toBeNull();
  });

  it("says the connector cannot be reached when the request itself fails", async () => {
    const card = renderCard(async () => {
      throw new TypeError("fetch failed");
    });
    await loaded(card);
    expect(card.findByTestId(Text, "error").text).toBe(
      "The MMS connector could not be reached. Try again in a moment.",
    );
  });
});
