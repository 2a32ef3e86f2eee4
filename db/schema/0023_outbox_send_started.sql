-- Unknown send outcomes wait less and hold back only their own recipient: outbox.send_started_at, grace 120 -> 30 s.
-- depends: 0020_hot_claims
--
-- A sender claims a batch under one lease and sends its rows one after another. When
-- it died, every row of the batch was treated as "maybe sent" and waited lease + grace
-- (30 + 120 s), other users' rows included. start_outbox_send now stamps a row just
-- before its HTTP call: a row whose lease ended without the stamp was never sent and
-- is claimed again at once (no attempt counted); only a stamped row waits for its
-- status webhook or the grace. Not indexed, so the stamp is a HOT update.
ALTER TABLE wapipe.outbox ADD COLUMN send_started_at timestamptz;
COMMENT ON COLUMN wapipe.outbox.send_started_at IS
  'set by start_outbox_send just before the Graph API call of the current claim; NULL: this claim sent nothing';

-- Rows claimed before this migration may be mid-send: treat them as started.
UPDATE wapipe.outbox SET send_started_at = coalesce(locked_until, now()) WHERE status = 'sending';

-- 120 s was a guess. A status webhook ("sent", then "delivered") normally reaches us
-- within a few seconds of Meta's 200, and the grace only starts when the lease has
-- ended (>= 12 s after the last send of a batch could start) or when the HTTP call
-- timed out. An operator's own value is kept.
UPDATE wapipe.settings SET value = '30', updated_at = now()
 WHERE key = 'outbox.unknown_outcome_grace_seconds' AND value = '120'::jsonb;
UPDATE wapipe.settings
   SET description = 'a row whose send outcome is unknown (its sender died mid-call, or the call ended without '
                     'an answer) is sent again only if no status webhook for outbox:<id> arrived within this '
                     'many seconds after its lease ended; a status webhook settles it (and frees the '
                     'recipient''s later replies) as soon as it arrives. Other recipients never wait for it.'
 WHERE key = 'outbox.unknown_outcome_grace_seconds';
