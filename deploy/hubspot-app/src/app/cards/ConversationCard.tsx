import {
  Alert,
  Box,
  Button,
  ButtonRow,
  Divider,
  EmptyState,
  ErrorState,
  Flex,
  Image,
  Link,
  LoadingSpinner,
  StatusTag,
  Tag,
  Text,
  useExtensionActions,
  useExtensionContext,
} from "@hubspot/ui-extensions";
import { useCrmProperties } from "@hubspot/ui-extensions/crm";
import { useCallback, useEffect, useState } from "react";
import {
  ConnectorError,
  type ConversationMessage,
  composerFresh,
  conversationUrl,
  type Fetcher,
  loadConversation,
  type RecordConversation,
} from "./connector";

// A 420 px modal gives the composer its side-panel layout.
export const COMPOSER_SIZE = { width: 420, height: 760 };

type State =
  | { kind: "loading" }
  | { kind: "failed"; message: string }
  | { kind: "ready"; answer: RecordConversation; older: boolean };

const STATUS_VARIANTS: Record<string, "danger" | "warning" | "info" | "success" | "default"> = {
  delivered: "success",
  sent: "info",
  queued: "default",
  sending: "default",
  not_sent: "danger",
  unknown: "warning",
};

function when(iso: string): string {
  return new Date(iso).toLocaleString(undefined, {
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
}

function MessageItem({ message }: { message: ConversationMessage }) {
  const shown = message.media.filter((medium) => medium.url !== null).slice(0, message.previews);
  const inbound = message.direction === "inbound";
  return (
    <Box>
      <Flex direction="row" justify="between" align="center" gap="xs">
        <Text format={{ fontWeight: "demibold" }}>
          {inbound ? `From ${message.other_party}` : `To ${message.other_party}`}
        </Text>
        <Text variant="microcopy">{when(message.sent_at)}</Text>
      </Flex>
      {message.text ? <Text testId={`text-${message.id}`}>{message.text}</Text> : null}
      {shown.length > 0 ? (
        <Flex direction="row" gap="xs" wrap="wrap">
          {shown.map((medium) =>
            medium.thumbnail_url ? (
              <Image
                key={medium.url}
                src={medium.thumbnail_url}
                alt={medium.name}
                width={64}
                height={64}
                href={{ url: medium.url ?? medium.thumbnail_url, external: true }}
              />
            ) : (
              <Link key={medium.url} href={{ url: medium.url ?? "", external: true }}>
                {medium.name}
              </Link>
            ),
          )}
          {message.more > 0 ? <Tag testId={`more-${message.id}`}>{`+${message.more}`}</Tag> : null}
        </Flex>
      ) : null}
      {message.loading > 0 ? (
        <Text variant="microcopy" testId={`loading-${message.id}`}>
          Loading…
        </Text>
      ) : null}
      {message.alerts.map((alert) => (
        <Alert key={alert} title={alert} variant="warning" />
      ))}
      {inbound ? null : (
        <StatusTag variant={STATUS_VARIANTS[message.status] ?? "default"}>
          {message.status_label}
        </StatusTag>
      )}
    </Box>
  );
}

export function ConversationCard({
  fetcher,
  connectorUrl,
}: {
  fetcher: Fetcher;
  connectorUrl: string;
}) {
  const context = useExtensionContext<"crm.record.sidebar">();
  const actions = useExtensionActions<"crm.record.sidebar">();
  const { properties, isLoading: phonesLoading } = useCrmProperties(["mobilephone", "phone"]);
  const to = properties.mobilephone || properties.phone || null;
  const contactId = context.crm.objectId;
  const [state, setState] = useState<State>({ kind: "loading" });

  const load = useCallback(async (): Promise<RecordConversation | null> => {
    setState({ kind: "loading" });
    try {
      const answer = await loadConversation(
        fetcher,
        conversationUrl(connectorUrl, contactId, { to }),
      );
      setState({ kind: "ready", answer, older: false });
      return answer;
    } catch (error) {
      const message =
        error instanceof ConnectorError ? error.message : "The MMS card failed. Try again.";
      setState({ kind: "failed", message });
      return null;
    }
  }, [fetcher, connectorUrl, contactId, to]);

  useEffect(() => {
    if (!phonesLoading) void load();
  }, [load, phonesLoading]);

  const older = async (answer: RecordConversation) => {
    try {
      const next = await loadConversation(
        fetcher,
        conversationUrl(connectorUrl, contactId, { to, before: answer.next_before }),
      );
      setState({
        kind: "ready",
        answer: { ...next, messages: [...answer.messages, ...next.messages] },
        older: true,
      });
    } catch (error) {
      const message = error instanceof ConnectorError ? error.message : "Try again.";
      setState({ kind: "failed", message });
    }
  };

  const openComposer = async (answer: RecordConversation) => {
    // The link expires after an hour: a card left open longer asks for a fresh one first.
    const fresh = answer.composer && composerFresh(answer.composer) ? answer : await load();
    if (!fresh?.composer) return;
    actions.openIframeModal(
      { uri: fresh.composer.url, title: "Send MMS", flush: true, ...COMPOSER_SIZE },
      () => void load(),
    );
  };

  if (state.kind === "loading") {
    return <LoadingSpinner label="Loading messages…" layout="centered" />;
  }
  if (state.kind === "failed") {
    return (
      <ErrorState title="MMS could not be loaded">
        <Text testId="error">{state.message}</Text>
        <Button testId="retry" onClick={() => void load()}>
          Try again
        </Button>
      </ErrorState>
    );
  }
  const { answer } = state;
  const refusal = answer.send_refusal;
  return (
    <Flex direction="column" gap="sm">
      {refusal ? (
        <Alert title="You cannot send an MMS now" variant="warning">
          {refusal}
        </Alert>
      ) : null}
      <ButtonRow>
        <Button
          variant="primary"
          testId="send"
          disabled={refusal !== null || answer.composer === null}
          onClick={() => void openComposer(answer)}
        >
          Send MMS
        </Button>
      </ButtonRow>
      {answer.messages.length === 0 ? (
        <EmptyState title="No MMS yet" layout="vertical">
          <Text>Messages with this contact will show here.</Text>
        </EmptyState>
      ) : (
        answer.messages.map((message, index) => (
          <Flex direction="column" gap="xs" key={message.id}>
            {index > 0 ? <Divider /> : null}
            <MessageItem message={message} />
          </Flex>
        ))
      )}
      {answer.next_before ? (
        <Button testId="older" variant="secondary" onClick={() => void older(answer)}>
          Older messages
        </Button>
      ) : null}
      {answer.conversations.map((conversation) => (
        <Link
          key={conversation.thread_id}
          testId={`conversation-${conversation.thread_id}`}
          href={{ url: conversation.url, external: true }}
        >
          {answer.conversations.length > 1
            ? `View whole conversation (${conversation.line_label || conversation.line_number})`
            : "View whole conversation"}
        </Link>
      ))}
    </Flex>
  );
}
