-- Bad arguments raise 22023 with a clear message, and nothing is claimed: not when the call is
-- refused up front (default agent, rules), nor when the context step refuses after the claim.
begin;
select plan(7);
select wapipe_tests.reset();
select wapipe_tests.enqueue_text('250700000001', 'hi', 'wamid.1');
select throws_ok($$ select * from wapipe.claim_messages('worker-1', 30, 10, '') $$,
  '22023', 'claim_messages needs a default_agent', 'an empty default agent');
select throws_ok($$ select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', '{}', '{"bill": "billing"}') $$,
  '22023', 'rules must be a JSON array of {"keywords": ["word", ...], "agent": "name"}', 'rules that are no array');
select throws_ok($$ select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', '{}', '[{"keywords": ["bill"]}]') $$,
  '22023', null, 'a rule without an agent');
select throws_ok($$ select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', '{}', '[{"keywords": [1], "agent": "b"}]') $$,
  '22023', null, 'a keyword that is no string');
select throws_ok($$ select * from wapipe.claim_messages('worker-1', 0, 10, 'waiter') $$,
  '22023', 'lock_seconds must be between 1 and 3600, got 0', 'the claim''s own checks');
select throws_ok($$ select * from wapipe.claim_messages('worker-1', 30, 10, 'waiter', '{}', '[]', 5, '0 seconds') $$,
  '22023', 'check_rate_limit: per must be a positive interval, got 00:00:00', 'the context step''s checks, after the claim');
select results_eq($$ select status, claimed_by from wapipe.processed_messages $$,
  $$ values ('queued', null::text) $$, 'the message is still queued, unclaimed');
select * from finish();
rollback;
