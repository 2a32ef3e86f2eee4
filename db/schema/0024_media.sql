-- Media the agent can see (issue 16): the bytes of inbound image/audio/video/document/sticker messages, kept in PostgreSQL for the message retention.
-- depends: 0023_outbox_send_started
--
-- One row per inbound media message (wamid). A worker claims the row before it
-- downloads (status 'fetching' under a lease: locked_by / locked_until), so two
-- workers never fetch the same media twice; a worker that dies mid-download
-- leaves a lease that expires and the next attempt takes over. 'stored' holds
-- the bytes; 'oversize' and 'gone' (expired media id) are final and hold none;
-- 'failed' may be claimed again (the message is retried with backoff).
--
-- Why PostgreSQL: the bytes must survive a worker crash and be visible to every
-- worker and to the ingress (signed URLs); the database already is the one durable,
-- shared, backed-up, retention-managed store, and one more service (S3, a volume)
-- would be one more thing to run, secure and clean. Media is kept for days, not
-- forever, so the volume stays bounded (README, "Media": the cost per GB).
-- content is STORAGE EXTERNAL: out of line in TOAST, uncompressed (JPEG, OGG/Opus,
-- MP4 and PDF are compressed already; trying again costs CPU for nothing).
CREATE TABLE wapipe.media (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  wamid           text NOT NULL UNIQUE,       -- the inbound message
  phone_number_id text NOT NULL,
  media_type      text NOT NULL,              -- image, audio, voice, video, document, sticker
  source          jsonb NOT NULL,             -- the message's media object (id, url, mime_type, sha256, caption, filename)
  status          text NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'fetching', 'stored', 'oversize', 'gone', 'failed')),
  mime_type       text,
  size_bytes      bigint,
  sha256          text,                       -- hex of the stored bytes
  content         bytea,
  attempts        integer NOT NULL DEFAULT 0, -- downloads started
  locked_by       text,
  locked_until    timestamptz,
  error           text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  stored_at       timestamptz,
  CHECK ((status = 'stored') = (content IS NOT NULL))
);
ALTER TABLE wapipe.media ALTER COLUMN content SET STORAGE EXTERNAL;
CREATE INDEX media_created_at_brin ON wapipe.media USING brin (created_at);
COMMENT ON TABLE wapipe.media IS
  'Inbound media (bytes for stored rows), one row per media message; purged by cleanup_media after media.retention_days.';

ALTER TABLE wapipe.media ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON wapipe.media FROM PUBLIC;

INSERT INTO wapipe.settings (key, value, description) VALUES
  ('media.retention_days', '7',
   'days the media of inbound messages is kept (the message retention; Meta''s media ids expire after 7 days too)')
ON CONFLICT (key) DO NOTHING;
