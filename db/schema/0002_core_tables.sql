-- Core tables of wapipe: ingest, queue bookkeeping, replies, memory, workflows,
-- rate limits, circuit breakers. Functions live in db/functions/ (re-applied on
-- every migrate); only tables, indexes and seed rows change here.
-- depends: 0001_foundation

-- Operator-tunable settings read by the functions (retry backoff, memory window,
-- breaker policies, claim aging). Change them with plain UPDATEs.
CREATE TABLE wapipe.settings (
  key         text PRIMARY KEY,
  value       jsonb NOT NULL,
  description text NOT NULL DEFAULT '',
  updated_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO wapipe.settings (key, value, description) VALUES
  ('retry.max_attempts', '3', 'attempts before a message goes to the dead letters'),
  ('retry.initial_delay_seconds', '1', 'backoff before the 2nd attempt'),
  ('retry.multiplier', '2', 'backoff growth per attempt'),
  ('retry.max_delay_seconds', '30', 'backoff cap'),
  ('claim.priority_aging_seconds', '30',
   'one priority level is worth this many seconds of waiting, so no conversation starves'),
  ('memory.window_messages', '20', 'messages kept per AI memory session'),
  ('memory.session_idle_seconds', '1800', 'a new memory session begins after this much idle time'),
  ('workflow.default_timeout_seconds', '1800', 'workflow inactivity timeout'),
  ('workflow.expiry_notice', '"Your session has expired. Send a message to start again."',
   'text sent to the user when a workflow expires (null: none)'),
  ('breaker.default.failure_rate', '0.5', 'failure rate that opens a standard breaker'),
  ('breaker.default.open_seconds', '60', 'how long a standard breaker stays open'),
  ('breaker.default.window_seconds', '60', 'sliding window of calls for the failure rate'),
  ('breaker.default.min_calls', '10', 'calls in the window before the rate counts'),
  ('breaker.default.half_open_calls', '3', 'trial calls admitted when half-open; all must succeed'),
  ('breaker.agent.failure_rate', '0.6', 'failure rate that opens an AI agent breaker'),
  ('breaker.agent.open_seconds', '120', 'how long an AI agent breaker stays open'),
  ('outbox.max_attempts', '5', 'send attempts before an outbox row is failed'),
  ('outbox.initial_delay_seconds', '1', 'sender backoff before the 2nd attempt'),
  ('outbox.max_delay_seconds', '60', 'sender backoff cap');

-- Message type -> priority 0..9 (higher first). Unknown types get 0.
CREATE TABLE wapipe.priority_rules (
  message_type text PRIMARY KEY,
  priority     smallint NOT NULL CHECK (priority BETWEEN 0 AND 9),
  description  text NOT NULL DEFAULT ''
);

INSERT INTO wapipe.priority_rules (message_type, priority, description) VALUES
  ('interactive', 8, 'button and list replies, flows'),
  ('button', 8, 'quick-reply button of a template'),
  ('order', 8, 'catalog order'),
  ('text', 5, ''),
  ('location', 5, ''),
  ('contacts', 5, ''),
  ('image', 3, 'media'),
  ('audio', 3, 'media'),
  ('video', 3, 'media'),
  ('document', 3, 'media'),
  ('sticker', 3, 'media'),
  ('reaction', 1, ''),
  ('system', 0, ''),
  ('unsupported', 0, '');

-- Every webhook POST as received (Meta offers no way to fetch old webhooks).
CREATE TABLE wapipe.webhook_events (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  received_at     timestamptz NOT NULL DEFAULT now(),
  correlation_id  text,
  payload         jsonb NOT NULL,
  new_messages    integer NOT NULL DEFAULT 0,
  duplicates      integer NOT NULL DEFAULT 0,
  statuses        integer NOT NULL DEFAULT 0,
  errors          integer NOT NULL DEFAULT 0
);
CREATE INDEX webhook_events_received_at_idx ON wapipe.webhook_events (received_at);
CREATE INDEX webhook_events_correlation_id_idx ON wapipe.webhook_events (correlation_id);

-- One row per inbound wamid: the dedup record and the message's life cycle.
CREATE TABLE wapipe.processed_messages (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  wamid                text NOT NULL UNIQUE,
  conversation_key     text NOT NULL,          -- phone_number_id || ':' || from_wa_id
  phone_number_id      text NOT NULL,          -- the business number that received it
  display_phone_number text,
  from_wa_id           text NOT NULL,
  message_type         text NOT NULL,
  payload              jsonb NOT NULL,         -- the message object as Meta sent it
  contact              jsonb,                  -- the matching contacts[] entry, if any
  wa_timestamp         timestamptz NOT NULL,   -- WhatsApp's timestamp (received_at if absent)
  priority             smallint NOT NULL CHECK (priority BETWEEN 0 AND 9),
  status               text NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'processing', 'done', 'dead')),
  queue_msg_id         bigint UNIQUE,          -- current pgmq msg_id in wapipe_inbound
  attempts             integer NOT NULL DEFAULT 0,
  last_error           text,
  error_history        jsonb NOT NULL DEFAULT '[]',
  claimed_by           text,
  claimed_at           timestamptz,
  next_attempt_at      timestamptz,
  handled_by           text,                   -- agent or workflow that answered
  received_at          timestamptz NOT NULL DEFAULT now(),
  processed_at         timestamptz,
  processing_ms        integer,
  correlation_id       text,
  webhook_event_id     bigint
);
-- The next head of a conversation: oldest unfinished message by WhatsApp time.
CREATE INDEX processed_messages_unfinished_idx
  ON wapipe.processed_messages (conversation_key, wa_timestamp, id)
  WHERE status IN ('queued', 'processing');
CREATE INDEX processed_messages_finished_idx
  ON wapipe.processed_messages (processed_at)
  WHERE status IN ('done', 'dead');
CREATE INDEX processed_messages_received_at_idx ON wapipe.processed_messages (received_at);

-- One row per conversation: the head index that makes a claim O(batch), and the
-- conversation lease (lock) shared by message claims and conversation locks.
CREATE TABLE wapipe.conversations (
  conversation_key  text PRIMARY KEY,
  phone_number_id   text NOT NULL,
  wa_id             text NOT NULL,
  head_message_id   bigint,          -- processed_messages.id of the head; NULL when idle
  head_priority     smallint,
  head_wa_timestamp timestamptz,
  head_received_at  timestamptz,
  -- claim order: received_at minus priority x aging, so higher priority goes first
  -- and a long wait eventually beats any priority (no starvation)
  head_rank         timestamptz,
  available_at      timestamptz NOT NULL DEFAULT now(),   -- retry backoff gate
  locked_by         text,
  locked_until      timestamptz,
  locked_at         timestamptz,
  last_message_at   timestamptz NOT NULL DEFAULT now(),
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX conversations_claim_idx
  ON wapipe.conversations (head_rank)
  WHERE head_message_id IS NOT NULL;
CREATE INDEX conversations_locked_idx
  ON wapipe.conversations (locked_until)
  WHERE locked_by IS NOT NULL;

-- Outbound WhatsApp statuses of the messages we sent. Never moves backwards.
CREATE TABLE wapipe.message_statuses (
  wamid            text PRIMARY KEY,
  phone_number_id  text,
  recipient_id     text,
  status           text NOT NULL,
  status_rank      smallint NOT NULL,
  status_at        timestamptz,
  errors           jsonb,
  conversation     jsonb,
  pricing          jsonb,
  updated_at       timestamptz NOT NULL DEFAULT now(),
  webhook_event_id bigint
);
CREATE INDEX message_statuses_updated_at_idx ON wapipe.message_statuses (updated_at);

-- Account-level errors carried in value.errors.
CREATE TABLE wapipe.webhook_errors (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  webhook_event_id bigint NOT NULL,
  phone_number_id  text,
  code             integer,
  title            text,
  message          text,
  details          jsonb NOT NULL,
  received_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_errors_received_at_idx ON wapipe.webhook_errors (received_at);

-- Replies to send. (source_key, seq) is unique: a reply can never be queued twice.
CREATE TABLE wapipe.outbox (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source_key        text NOT NULL,      -- inbound wamid, or e.g. 'workflow-expired:42'
  seq               smallint NOT NULL DEFAULT 0,
  source_message_id bigint,             -- processed_messages.id when answering one
  phone_number_id   text NOT NULL,
  to_wa_id          text NOT NULL,
  body              jsonb NOT NULL,     -- Graph API message object (type + content)
  status            text NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'dry_run')),
  attempts          integer NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  locked_by         text,
  locked_until      timestamptz,
  sent_wamid        text UNIQUE,
  error_code        integer,
  last_error        text,
  correlation_id    text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  sent_at           timestamptz,
  UNIQUE (source_key, seq)
);
CREATE INDEX outbox_pending_idx ON wapipe.outbox (next_attempt_at) WHERE status IN ('pending', 'sending');
CREATE INDEX outbox_created_at_idx ON wapipe.outbox (created_at);

-- Messages that failed for good, with their error history; replayable.
CREATE TABLE wapipe.dead_letters (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id       bigint NOT NULL,     -- processed_messages.id
  wamid            text NOT NULL,
  conversation_key text NOT NULL,
  message_type     text NOT NULL,
  queue_msg_id     bigint,
  last_error       text,
  error_code       text,
  error_history    jsonb NOT NULL DEFAULT '[]',
  attempts         integer NOT NULL,
  dead_at          timestamptz NOT NULL DEFAULT now(),
  replayed_at      timestamptz,
  correlation_id   text
);
CREATE INDEX dead_letters_dead_at_idx ON wapipe.dead_letters (dead_at);
CREATE INDEX dead_letters_pending_idx ON wapipe.dead_letters (dead_at) WHERE replayed_at IS NULL;

-- AI conversation memory: a sliding window of messages per session.
CREATE TABLE wapipe.ai_conversation_memory (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_phone       text NOT NULL,
  agent_type       text NOT NULL,
  session_id       text NOT NULL,
  messages         jsonb NOT NULL DEFAULT '[]',   -- [{role, content, at}], oldest first
  context          jsonb NOT NULL DEFAULT '{}',
  message_count    integer NOT NULL DEFAULT 0,    -- all ever appended, not just kept
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_activity_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_phone, agent_type, session_id)
);
CREATE INDEX ai_conversation_memory_recent_idx
  ON wapipe.ai_conversation_memory (user_phone, agent_type, last_activity_at DESC);
CREATE INDEX ai_conversation_memory_activity_idx
  ON wapipe.ai_conversation_memory (last_activity_at);

-- Multi-step workflows; at most one active per user.
CREATE TABLE wapipe.workflow_states (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_phone      text NOT NULL,
  phone_number_id text,                 -- business number, to tell the user on expiry
  workflow_type   text NOT NULL,
  current_step    text NOT NULL,
  data            jsonb NOT NULL DEFAULT '{}',
  status          text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'completed', 'failed', 'expired')),
  step_timeout    interval NOT NULL,
  version         integer NOT NULL DEFAULT 1,
  error           text,
  started_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now(),
  expires_at      timestamptz NOT NULL,
  finished_at     timestamptz
);
CREATE UNIQUE INDEX workflow_states_one_active_per_user
  ON wapipe.workflow_states (user_phone) WHERE status = 'active';
CREATE INDEX workflow_states_expiry_idx
  ON wapipe.workflow_states (expires_at) WHERE status = 'active';
CREATE INDEX workflow_states_type_idx ON wapipe.workflow_states (workflow_type, status);

-- Token buckets for check_rate_limit.
CREATE TABLE wapipe.rate_limit_buckets (
  key        text PRIMARY KEY,
  tokens     double precision NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rate_limit_buckets_updated_at_idx ON wapipe.rate_limit_buckets (updated_at);

-- Circuit breakers shared by every worker process. NULL policy columns mean
-- "from settings for this kind" (breaker.<kind>.*, then breaker.default.*).
CREATE TABLE wapipe.breakers (
  name                 text PRIMARY KEY,
  kind                 text NOT NULL DEFAULT 'default'
                       CHECK (kind IN ('default', 'agent', 'payment', 'media')),
  state                text NOT NULL DEFAULT 'closed'
                       CHECK (state IN ('closed', 'open', 'half_open')),
  state_changed_at     timestamptz NOT NULL DEFAULT now(),
  opened_at            timestamptz,
  window_started_at    timestamptz NOT NULL DEFAULT now(),  -- calls before it do not count
  half_open_in_flight  integer NOT NULL DEFAULT 0,
  half_open_successes  integer NOT NULL DEFAULT 0,
  failure_rate         numeric CHECK (failure_rate > 0 AND failure_rate <= 1),
  open_seconds         integer CHECK (open_seconds > 0),
  window_seconds       integer CHECK (window_seconds > 0),
  min_calls            integer CHECK (min_calls > 0),
  half_open_calls      integer CHECK (half_open_calls > 0),
  last_failure_at      timestamptz,
  last_error           text,
  times_opened         integer NOT NULL DEFAULT 0,
  updated_at           timestamptz NOT NULL DEFAULT now()
);

-- Per-second call counts: the breaker's sliding window costs O(window seconds).
CREATE TABLE wapipe.breaker_buckets (
  name      text NOT NULL,
  bucket_at timestamptz NOT NULL,
  calls     integer NOT NULL DEFAULT 0,
  failures  integer NOT NULL DEFAULT 0,
  PRIMARY KEY (name, bucket_at)
);

-- Every call to an external service (agents, Graph API): latency and outcome.
CREATE TABLE wapipe.service_calls (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  service     text NOT NULL,
  endpoint    text,
  ok          boolean NOT NULL,
  duration_ms integer NOT NULL,
  error       text,
  called_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX service_calls_service_idx ON wapipe.service_calls (service, called_at);
CREATE INDEX service_calls_called_at_idx ON wapipe.service_calls (called_at);

-- Health of each service endpoint as the workers see it (active checks).
CREATE TABLE wapipe.service_endpoints (
  service         text NOT NULL,
  endpoint        text NOT NULL,
  healthy         boolean NOT NULL DEFAULT true,
  last_checked_at timestamptz,
  last_error      text,
  checked_by      text,
  PRIMARY KEY (service, endpoint)
);

-- Worker processes: who is alive.
CREATE TABLE wapipe.workers (
  worker_id    text PRIMARY KEY,
  host         text NOT NULL,
  pid          integer NOT NULL,
  started_at   timestamptz NOT NULL DEFAULT now(),
  heartbeat_at timestamptz NOT NULL DEFAULT now(),
  stopped_at   timestamptz,
  info         jsonb NOT NULL DEFAULT '{}'
);

-- RLS on every table: only the owner (the SECURITY DEFINER functions and the
-- views) reads or writes them; the wapipe_* roles get no direct table access.
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT c.oid::regclass FROM pg_catalog.pg_class c
           WHERE c.relnamespace = 'wapipe'::regnamespace AND c.relkind = 'r'
  LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('REVOKE ALL ON %s FROM PUBLIC', t);
  END LOOP;
END
$$;
