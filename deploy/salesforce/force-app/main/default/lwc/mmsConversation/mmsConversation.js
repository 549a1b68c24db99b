import conversation from "@salesforce/apex/MmsConversationController.conversation";
import { CurrentPageReference } from "lightning/navigation";
import { api, LightningElement, wire } from "lwc";

// The composer's side-panel layout: 420 px wide or less, about 760 px tall.
export const COMPOSER_HEIGHT = 760;
const FRESH_FOR_MS = 60000;

const STATUS_CLASSES = {
    delivered: "slds-badge slds-theme_success",
    not_sent: "slds-badge slds-theme_error",
    unknown: "slds-badge slds-theme_warning"
};

function when(iso) {
    return new Date(iso).toLocaleString(undefined, {
        day: "numeric",
        month: "short",
        hour: "2-digit",
        minute: "2-digit"
    });
}

function problem(error) {
    const message = error?.body?.message;
    return message || "The MMS card failed. Try again.";
}

/**
 * The MMS card of a Contact or Lead (record page), or of the record on screen (utility bar):
 * the connector's read model through the Apex controller, one round trip per view.
 */
export default class MmsConversation extends LightningElement {
    @api recordId;
    pageRecordId;
    answer;
    error;
    loading = false;
    composing = false;
    composerUrl;
    loadedFor;

    @wire(CurrentPageReference)
    pageChanged(reference) {
        // In the utility bar there is no recordId: follow the record page on screen.
        this.pageRecordId = reference?.attributes ? reference.attributes.recordId : undefined;
        if (!this.recordId && this.pageRecordId && this.pageRecordId !== this.loadedFor) {
            this.load();
        }
    }

    connectedCallback() {
        if (this.recordId) {
            this.load();
        }
    }

    get targetId() {
        return this.recordId || this.pageRecordId;
    }

    get noRecord() {
        return !this.targetId && !this.loading;
    }

    async load() {
        const recordId = this.targetId;
        this.loadedFor = recordId;
        this.loading = true;
        this.error = undefined;
        try {
            this.answer = JSON.parse(await conversation({ recordId, beforeId: null }));
        } catch (error) {
            this.answer = undefined;
            this.error = problem(error);
        }
        this.loading = false;
        return this.answer;
    }

    async older() {
        try {
            const next = JSON.parse(await conversation({ recordId: this.targetId, beforeId: this.answer.next_before }));
            this.answer = { ...next, messages: [...this.answer.messages, ...next.messages] };
        } catch (error) {
            this.error = problem(error);
        }
    }

    get ready() {
        return !this.loading && !this.error && this.answer !== undefined;
    }

    get refusal() {
        return this.answer ? this.answer.send_refusal : null;
    }

    get sendDisabled() {
        return !this.answer || this.refusal !== null || this.answer.composer === null;
    }

    get empty() {
        return this.answer && this.answer.messages.length === 0;
    }

    get hasOlder() {
        return Boolean(this.answer?.next_before);
    }

    get messages() {
        if (!this.answer) {
            return [];
        }
        return this.answer.messages.map((message) => {
            const shown = message.media
                .filter((medium) => medium.url !== null)
                .slice(0, message.previews)
                .map((medium) => ({
                    key: medium.url,
                    url: medium.url,
                    name: medium.name,
                    thumbnail: medium.thumbnail_url,
                    isImage: Boolean(medium.thumbnail_url)
                }));
            const inbound = message.direction === "inbound";
            return {
                key: String(message.id),
                id: message.id,
                who: inbound ? `From ${message.other_party}` : `To ${message.other_party}`,
                when: when(message.sent_at),
                text: message.text,
                media: shown,
                more: message.more > 0 ? `+${message.more}` : null,
                loading: message.loading > 0,
                alerts: message.alerts.map((alert) => ({ key: alert, text: alert })),
                status: inbound ? null : message.status_label,
                statusClass: STATUS_CLASSES[message.status] || "slds-badge"
            };
        });
    }

    get conversations() {
        if (!this.answer) {
            return [];
        }
        const several = this.answer.conversations.length > 1;
        return this.answer.conversations.map((item) => ({
            key: String(item.thread_id),
            url: item.url,
            label: several
                ? `View whole conversation (${item.line_label || item.line_number})`
                : "View whole conversation"
        }));
    }

    get composerHeight() {
        return `height: ${COMPOSER_HEIGHT}px`;
    }

    async openComposer() {
        let answer = this.answer;
        // The link expires after an hour: a card left open longer asks for a fresh one first.
        if (!answer.composer || Date.parse(answer.composer.expires_at) - Date.now() < FRESH_FOR_MS) {
            answer = await this.load();
        }
        if (answer?.composer) {
            this.composerUrl = answer.composer.url;
            this.composing = true;
        }
    }

    closeComposer() {
        this.composing = false;
        this.composerUrl = undefined;
        this.load();
    }

    retry() {
        this.load();
    }
}
