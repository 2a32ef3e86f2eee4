-- A status echoing biz_opaque_callback_data keeps it, so the sender can match an outbox row.
begin;
select plan(1);
select wapipe_tests.reset();

select wapipe.ingest_webhook(
  jsonb_set(wapipe_tests.sample('status_sent'), '{entry,0,changes,0,value,statuses,0,biz_opaque_callback_data}',
            '"outbox:42"'), 'cb');
select is((select callback_data from wapipe.message_statuses), 'outbox:42', 'callback data stored');

select * from finish();
rollback;
