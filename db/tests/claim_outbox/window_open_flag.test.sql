-- window_open tells whether the recipient wrote to this business number in the last 24 hours.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.inbound_ago('250700000001', '2 hours');
select wapipe_tests.inbound_ago('250700000002', '25 hours');
select wapipe_tests.inbound_ago('250700000002', '30 hours');
select wapipe_tests.inbound_ago('250700000004', '1 hour', '999999999999999');  -- another business number
select wapipe_tests.outbox_row('250700000001') as recent \gset
select wapipe_tests.outbox_row('250700000002') as stale \gset
select wapipe_tests.outbox_row('250700000003') as never \gset
select wapipe_tests.outbox_row('250700000004') as other_number \gset

create temp table claimed as select * from wapipe.claim_outbox('sender-1', 10, 30);
select is((select window_open from claimed where id = :recent), true, 'inbound 2 h ago: window open');
select is((select window_open from claimed where id = :stale), false, 'last inbound 25 h ago: closed');
select ok((select abs(extract(epoch from last_inbound_at - (now() - interval '25 hours'))) < 1 from claimed where id = :stale),
  'last_inbound_at is the newest inbound message');
select is((select window_open from claimed where id = :never), false, 'never wrote: closed');
select is((select window_open from claimed where id = :other_number), false,
  'a message to another business number does not open this one''s window');

select * from finish();
rollback;
