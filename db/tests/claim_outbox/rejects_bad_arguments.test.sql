-- claim_outbox refuses an empty worker id, a bad batch and a bad lease with 22023.
begin;
select plan(4);
select wapipe_tests.reset();

select throws_ok($$ select * from wapipe.claim_outbox('', 10, 30) $$, '22023', null, 'an empty worker id is refused');
select throws_ok($$ select * from wapipe.claim_outbox('s', 0, 30) $$, '22023', null, 'batch 0 is refused');
select throws_ok($$ select * from wapipe.claim_outbox('s', 10, 0) $$, '22023', null, 'lock_seconds 0 is refused');
select throws_ok($$ select * from wapipe.claim_outbox('s', 10, null) $$, '22023', null, 'a NULL lease is refused');

select * from finish();
rollback;
