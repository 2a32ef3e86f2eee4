-- The pure helpers (the house rules' one exception) are inlined: a statement calling
-- one plans its expression, not a call, so a hot function pays nothing per row for it.
begin;
select plan(5);

select unalike(wapipe_tests.plan_of($$ select wapipe._completion_refusal(jsonb_build_object('n', g), array[g::bigint])
                                  from generate_series(1, 2) g $$),
  '%_completion_refusal%', '_completion_refusal is inlined');
select unalike(wapipe_tests.plan_of($$ select wapipe._conversation_rank(now() + make_interval(secs => g), g::smallint,
                                                                  interval '30 seconds')
                                  from generate_series(1, 2) g $$),
  '%_conversation_rank%', '_conversation_rank is inlined');
select unalike(wapipe_tests.plan_of($$ select wapipe._status_rank(g::text) from generate_series(1, 2) g $$),
  '%_status_rank%', '_status_rank is inlined');
select unalike(wapipe_tests.plan_of($$ select wapipe._claim_lost_message('w' || g, g) from generate_series(1, 2) g $$),
  '%_claim_lost_message%', '_claim_lost_message is inlined');
select unalike(wapipe_tests.plan_of($$ select wapipe._memory_lock_key('u' || g, 'a') from generate_series(1, 2) g $$),
  '%_memory_lock_key%', '_memory_lock_key is inlined');
select * from finish();
rollback;
