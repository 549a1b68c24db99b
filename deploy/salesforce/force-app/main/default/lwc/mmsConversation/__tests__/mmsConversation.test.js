/**
 * The MMS card on a Contact/Lead page and in the utility bar, against answers recorded from the
 * connector (./data, checked against the connector's schema by the Python suite). The Apex
 * method is mocked the way sfdx-lwc-jest recipes do; what it returns is the connector's JSON.
 */

import conversation from "@salesforce/apex/MmsConversationController.conversation";
import MmsConversation, { COMPOSER_HEIGHT } from "c/mmsConversation";
import { CurrentPageReference } from "lightning/navigation";
import { createElement } from "lwc";

jest.mock("@salesforce/apex/MmsConversationController.conversation", () => ({ default: jest.fn() }), { virtual: true });

const RECORD_ID = "003000000000001AAA";

function recorded(name) {
    // A fresh copy per test: tests change fields freely.
    return JSON.parse(JSON.stringify(require(`./data/${name}.json`)));
}

function answers(...bodies) {
    bodies.forEach((body) => {
        if (body instanceof Error) {
            conversation.mockRejectedValueOnce(body);
        } else {
            conversation.mockResolvedValueOnce(JSON.stringify(body));
        }
    });
}

function apexError(message) {
    const error = new Error(message);
    error.body = { message };
    return error;
}

async function settle() {
    // The Apex promise, then the re-render.
    for (let i = 0; i < 4; i += 1) {
        await Promise.resolve();
    }
}

function mount(props = { recordId: RECORD_ID }) {
    const element = createElement("c-mms-conversation", { is: MmsConversation });
    Object.assign(element, props);
    document.body.appendChild(element);
    return element;
}

const $ = (element, id) => element.shadowRoot.querySelector(`[data-id="${id}"]`);
const $$ = (element, id) => [...element.shadowRoot.querySelectorAll(`[data-id="${id}"]`)];

afterEach(() => {
    while (document.body.firstChild) {
        document.body.removeChild(document.body.firstChild);
    }
    jest.clearAllMocks();
});

describe("c-mms-conversation", () => {
    it("asks Apex for the record's conversation once, and lists its messages with media and alerts", async () => {
        const answer = recorded("messages-with-media");
        answers(answer);
        const element = mount();
        await settle();

        expect(conversation).toHaveBeenCalledTimes(1);
        expect(conversation).toHaveBeenCalledWith({ recordId: RECORD_ID, beforeId: null });
        const items = [...element.shadowRoot.querySelectorAll("li[data-message]")];
        expect(items.map((item) => Number(item.dataset.message))).toEqual(answer.messages.map((m) => m.id));
        expect($$(element, "text").map((p) => p.textContent)).toEqual(answer.messages.map((m) => m.text));
        const inbound = answer.messages[1];
        expect($$(element, "thumbnail").map((img) => img.getAttribute("src"))).toEqual(
            inbound.media.filter((m) => m.thumbnail_url).map((m) => m.thumbnail_url)
        );
        expect($(element, "loading").textContent).toBe("Loading…");
        expect($$(element, "alert").map((p) => p.textContent)).toEqual(inbound.alerts);
        expect($(element, "status").textContent).toBe("Sent");
        const whole = $(element, "conversation");
        expect(whole.textContent).toBe("View whole conversation");
        expect(whole.getAttribute("href")).toBe(answer.conversations[0].url);
        expect(whole.getAttribute("target")).toBe("_blank");
    });

    it("shows the preview count's thumbnails and counts the rest as +N", async () => {
        const answer = recorded("messages-with-media");
        const inbound = answer.messages[1];
        const picture = inbound.media[0];
        inbound.media = Array.from({ length: 6 }, (_, n) => ({
            ...picture,
            url: `${picture.url}${n}`,
            thumbnail_url: `${picture.url}${n}`
        }));
        Object.assign(inbound, { previews: 4, more: 2, loading: 0, alerts: [] });
        answers(answer);
        const element = mount();
        await settle();

        expect($$(element, "thumbnail")).toHaveLength(answer.preview_count);
        expect($(element, "more").textContent).toBe("+2");
    });

    it("opens the composer inline at 760 px and reloads when it is closed", async () => {
        const answer = recorded("empty");
        answer.composer.expires_at = new Date(Date.now() + 3600000).toISOString();
        answers(answer, recorded("empty"));
        const element = mount();
        await settle();
        expect($(element, "empty").textContent).toBe("No MMS with this contact yet.");

        $(element, "send").click();
        await settle();
        const frame = $(element, "composer");
        expect(frame.getAttribute("src")).toBe(answer.composer.url);
        expect(frame.getAttribute("title")).toBe("Send MMS");
        expect(frame.getAttribute("style")).toContain(`height: ${COMPOSER_HEIGHT}px`);
        expect(conversation).toHaveBeenCalledTimes(1);

        $(element, "close").click();
        await settle();
        expect($(element, "composer")).toBeNull();
        expect(conversation).toHaveBeenCalledTimes(2);
    });

    it("asks for a fresh composer link when the one it holds has expired", async () => {
        const stale = recorded("empty");
        stale.composer.expires_at = "2020-01-01T00:00:00Z";
        const fresh = recorded("empty");
        fresh.composer.url = "https://mms.example.com/compose?token=p1.fresh.link";
        fresh.composer.expires_at = "2999-01-01T00:00:00Z";
        answers(stale, fresh);
        const element = mount();
        await settle();

        $(element, "send").click();
        await settle();

        expect(conversation).toHaveBeenCalledTimes(2);
        expect($(element, "composer").getAttribute("src")).toBe(fresh.composer.url);
    });

    it.each(["refused", "no-number"])("says why nothing can be sent (%s) and disables Send", async (name) => {
        const answer = recorded(name);
        answers(answer);
        const element = mount();
        await settle();

        expect($(element, "refusal").textContent).toBe(answer.send_refusal);
        expect($(element, "send").disabled).toBe(true);
    });

    it("pages back with Older messages", async () => {
        const first = recorded("messages-with-media");
        first.next_before = first.messages[1].id;
        const second = recorded("messages-with-media");
        second.messages = [{ ...second.messages[0], id: 99, text: "An older one" }];
        second.next_before = null;
        answers(first, second);
        const element = mount();
        await settle();

        $(element, "older").click();
        await settle();

        expect(conversation).toHaveBeenLastCalledWith({ recordId: RECORD_ID, beforeId: first.messages[1].id });
        expect($$(element, "text").map((p) => p.textContent)).toContain("An older one");
        expect($(element, "older")).toBeNull();
    });

    it("shows the controller's refusal and tries again", async () => {
        answers(apexError("The MMS connector is busy or unreachable. Try again in a moment."), recorded("empty"));
        const element = mount();
        await settle();
        expect($(element, "error").textContent).toBe(
            "The MMS connector is busy or unreachable. Try again in a moment."
        );
        expect($(element, "send")).toBeNull();

        $(element, "retry").click();
        await settle();
        expect($(element, "error")).toBeNull();
        expect($(element, "empty")).not.toBeNull();
    });

    it("in the utility bar, follows the record on screen", async () => {
        answers(recorded("empty"));
        const element = mount({});
        await settle();
        expect(conversation).not.toHaveBeenCalled();
        expect($(element, "no-record")).not.toBeNull();

        CurrentPageReference.emit({
            type: "standard__recordPage",
            attributes: { recordId: "00Q000000000002AAA", objectApiName: "Lead" }
        });
        await settle();

        expect(conversation).toHaveBeenCalledWith({ recordId: "00Q000000000002AAA", beforeId: null });
        expect($(element, "empty")).not.toBeNull();
    });
});
