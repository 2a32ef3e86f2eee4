-- mark_outbox_sent refuses (WA001) a worker that does not hold the row, a row not claimed, and an unknown row.
begin;
select plan(5);
select wapipe_tests.reset();

select wapipe_tests.outbox_row() as id \gset
select throws_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-1', 'wamid.out.1') $$, :id), 'WA001', null,
  'a pending row nobody claimed is refused');
select wapipe_tests.claim_outbox_ids('sender-1');
select throws_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-2', 'wamid.out.1') $$, :id), 'WA001', null,
  'another worker is refused');
select throws_ok($$ select wapipe.mark_outbox_sent(-1, 'sender-1', 'wamid.out.1') $$, 'WA001', null,
  'an unknown row is refused');
select throws_ok(format($$ select wapipe.mark_outbox_sent(%s, 'sender-1', '') $$, :id), '22023', null,
  'an empty wamid is refused');
select is((select status from wapipe.outbox where id = :id), 'sending', 'the row is untouched');

select * from finish();
rollback;
