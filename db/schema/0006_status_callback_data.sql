-- Statuses carry back the biz_opaque_callback_data we sent, so a reply whose send
-- outcome was lost (worker killed mid-call) can be matched to its outbox row.
-- depends: 0002_core_tables

ALTER TABLE wapipe.message_statuses ADD COLUMN callback_data text;
CREATE INDEX message_statuses_callback_data_idx
  ON wapipe.message_statuses (callback_data) WHERE callback_data IS NOT NULL;
