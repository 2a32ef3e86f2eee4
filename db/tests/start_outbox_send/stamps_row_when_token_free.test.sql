-- start_outbox_send takes a send token of the business number and stamps the row started (0 = call Meta now).
begin;
select plan(3);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select wapipe_tests.claim_outbox_ids('sender-1');
select is(wapipe.start_outbox_send(:id, 'sender-1', 8, interval '100 milliseconds'), 0, 'a token was free: send now');
select is((select send_started_at from wapipe.outbox where id = :id), now(), 'the row is stamped started');
select is((select tokens::int from wapipe.rate_limit_buckets where key = 'send:300100200300400'), 7,
  'the token came from the business number''s bucket');

select * from finish();
rollback;
