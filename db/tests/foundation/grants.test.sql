-- Who may EXECUTE each wapipe function: one matrix, function × role (wapipe_ingress,
-- wapipe_worker, wapipe_monitor; PUBLIC never). A function added to schema wapipe must
-- be added here, with the roles its GRANT names ('{}' for an owner-only function or a
-- private _helper): the test fails until it is, and when any grant differs from it.
begin;
select plan(9);

create temp table grants_matrix (signature text primary key, roles text[] not null) on commit drop;
insert into grants_matrix (signature, roles) values
  -- the worker
  ('wapipe.acquire_conversation_lock(text,text,integer)', '{wapipe_worker}'),
  ('wapipe.acquire_message_lock(bigint,text,integer)', '{wapipe_worker}'),
  ('wapipe.admit_typing_indicator(text,text,integer,interval,integer)', '{wapipe_worker}'),
  ('wapipe.advance_workflow(bigint,text,text,jsonb)', '{wapipe_worker}'),
  ('wapipe.breaker_allow(text)', '{wapipe_worker}'),
  ('wapipe.breaker_configure(text,text,numeric,integer,integer,integer,integer)', '{wapipe_worker}'),
  ('wapipe.breaker_record(text,boolean,integer,text,text)', '{wapipe_worker}'),
  ('wapipe.breaker_record_successes(text,integer[],text)', '{wapipe_worker}'),
  ('wapipe.check_rate_limit(text,integer,interval)', '{wapipe_worker}'),
  ('wapipe.claim_media(text,text,text,jsonb,text,integer)', '{wapipe_worker}'),
  ('wapipe.claim_messages(text,integer,integer,text,text[],jsonb,integer,interval,jsonb)', '{wapipe_worker}'),
  ('wapipe.claim_outbox(text,integer,integer)', '{wapipe_worker}'),
  ('wapipe.complete_message(bigint,text,jsonb,jsonb,jsonb,text)', '{wapipe_worker}'),
  ('wapipe.complete_messages(text,jsonb)', '{wapipe_worker}'),
  ('wapipe.complete_workflow(bigint,jsonb)', '{wapipe_worker}'),
  ('wapipe.context_items(bigint[],jsonb,integer,boolean)', '{wapipe_worker}'),
  ('wapipe.defer_message(bigint,text,text,timestamp with time zone,text,integer)', '{wapipe_worker}'),
  ('wapipe.end_handoff(text,text)', '{wapipe_worker}'),
  ('wapipe.expire_workflows()', '{wapipe_worker}'),
  ('wapipe.extend_turn(bigint,text,numeric)', '{wapipe_worker}'),
  ('wapipe.fail_media(bigint,text,text,text,bigint,text)', '{wapipe_worker}'),
  ('wapipe.fail_workflow(bigint,text)', '{wapipe_worker}'),
  ('wapipe.get_active_workflow(text)', '{wapipe_worker}'),
  ('wapipe.get_next_queue_message(text,integer,integer)', '{wapipe_worker}'),
  ('wapipe.get_or_create_conversation_memory(text,text,text)', '{wapipe_worker}'),
  ('wapipe.get_recent_agent(text)', '{wapipe_worker}'),
  ('wapipe.keyword_agent(text,jsonb)', '{wapipe_worker}'),
  ('wapipe.mark_outbox_dry_run(bigint,text)', '{wapipe_worker}'),
  ('wapipe.mark_outbox_failed(bigint,text,integer,text,boolean,integer)', '{wapipe_worker}'),
  ('wapipe.mark_outbox_sent(bigint,text,text)', '{wapipe_worker}'),
  ('wapipe.mark_outbox_unknown(bigint,text,text)', '{wapipe_worker}'),
  ('wapipe.mark_outbox_window_closed(bigint,text,integer,text)', '{wapipe_worker}'),
  ('wapipe.message_context(text,text,text[],text,text,integer,interval,text)', '{wapipe_worker}'),
  ('wapipe.message_contexts(jsonb,text,text[],integer,interval)', '{wapipe_worker}'),
  ('wapipe.record_endpoint_health(text,text,boolean,text,text)', '{wapipe_worker}'),
  ('wapipe.register_worker(text,text,integer,jsonb)', '{wapipe_worker}'),
  ('wapipe.release_conversation_lock(text,text)', '{wapipe_worker}'),
  ('wapipe.release_message_lock(bigint,text)', '{wapipe_worker}'),
  ('wapipe.release_outbox(bigint[],text,integer)', '{wapipe_worker}'),
  ('wapipe.schedule_message_retry(bigint,text,text,boolean)', '{wapipe_worker}'),
  ('wapipe.start_handoff(text,text,text,integer)', '{wapipe_worker}'),
  ('wapipe.start_outbox_send(bigint,text,integer,interval)', '{wapipe_worker}'),
  ('wapipe.start_workflow(text,text,text,jsonb,interval,text)', '{wapipe_worker}'),
  ('wapipe.store_media(bigint,text,bytea,text)', '{wapipe_worker}'),
  ('wapipe.update_conversation_memory(bigint,text,text,jsonb)', '{wapipe_worker}'),
  ('wapipe.use_outbox_window_fallback(bigint,text)', '{wapipe_worker}'),
  ('wapipe.worker_heartbeat(text)', '{wapipe_worker}'),
  ('wapipe.worker_stopped(text)', '{wapipe_worker}'),
  -- the ingress
  ('wapipe.ingest_webhook(jsonb,text)', '{wapipe_ingress}'),
  ('wapipe.ingest_webhooks(jsonb[],text[])', '{wapipe_ingress}'),
  -- the monitor (status page, dashboards)
  ('wapipe.list_handoffs(boolean,integer)', '{wapipe_monitor}'),
  ('wapipe.status_page_series(integer)', '{wapipe_monitor}'),
  -- the monitor and the worker
  ('wapipe.conversation_window(text)', '{wapipe_monitor,wapipe_worker}'),
  ('wapipe.system_health(jsonb)', '{wapipe_monitor,wapipe_worker}'),
  -- the ingress and the worker
  ('wapipe.media_content(bigint)', '{wapipe_ingress,wapipe_worker}'),
  -- nobody: run by the owner (pg_cron jobs, the wapipe CLI)
  ('wapipe.cleanup_breaker_history()', '{}'),
  ('wapipe.cleanup_conversation_memory(interval)', '{}'),
  ('wapipe.cleanup_media()', '{}'),
  ('wapipe.cleanup_old_messages(interval)', '{}'),
  ('wapipe.cleanup_quarantine()', '{}'),
  ('wapipe.cleanup_stale_message_locks(interval)', '{}'),
  ('wapipe.cleanup_stuck_webhook_conversations(interval)', '{}'),
  ('wapipe.discard_quarantine(bigint[],text)', '{}'),
  ('wapipe.expire_handoffs()', '{}'),
  ('wapipe.maintain_partitions(text)', '{}'),
  ('wapipe.pending_dead_letters(bigint[],text,text,text,timestamp with time zone,integer)', '{}'),
  ('wapipe.queue_operator_message(text,jsonb,text,text)', '{}'),
  ('wapipe.replay_quarantine(bigint[],text,timestamp with time zone,integer,boolean)', '{}'),
  ('wapipe.requeue_dead_letters(bigint[],text,text,timestamp with time zone,integer,boolean)', '{}'),
  ('wapipe.resolve_conversation(text,text)', '{}'),
  ('wapipe.schedule_maintenance()', '{}'),
  -- nobody: private helpers
  ('wapipe._active_workflows(text[])', '{}'),
  ('wapipe._append_memory(bigint[],jsonb[],jsonb[])', '{}'),
  ('wapipe._apply_workflow_action(jsonb,text,text)', '{}'),
  ('wapipe._breaker_next_trial(text)', '{}'),
  ('wapipe._breaker_setting(text,text)', '{}'),
  ('wapipe._health_thresholds(jsonb)', '{}'),
  ('wapipe._claim_held(bigint,text)', '{}'),
  ('wapipe._claim_lost_message(text,bigint)', '{}'),
  ('wapipe._claim_turns(bigint[],numeric[])', '{}'),
  ('wapipe._claims_held(bigint[],text)', '{}'),
  ('wapipe._completion_refusal(jsonb,bigint[])', '{}'),
  ('wapipe._context_items(bigint[],text[],text[],text[],integer[],jsonb,boolean,boolean)', '{}'),
  ('wapipe._conversation_rank(timestamp with time zone,smallint,interval)', '{}'),
  ('wapipe._dead_letter_abandoned_claims(timestamp with time zone)', '{}'),
  ('wapipe._dead_letter_turn_followers(bigint,text,text)', '{}'),
  ('wapipe._handoff_hold(text,text,text,timestamp with time zone)', '{}'),
  ('wapipe._handoff_on_echoes(wapipe.inbound_message[],bigint[])', '{}'),
  ('wapipe._held_media(bigint,text)', '{}'),
  ('wapipe._identify_senders(wapipe.inbound_message[])', '{}'),
  ('wapipe._inbound_archive(bigint[])', '{}'),
  ('wapipe._inbound_set_vt(bigint[],timestamp with time zone)', '{}'),
  ('wapipe._inbound_send(bigint[],jsonb[],jsonb[],timestamp with time zone)', '{}'),
  ('wapipe._maintain_message_partitions(integer)', '{}'),
  ('wapipe._message_id_base()', '{}'),
  ('wapipe._message_partitions()', '{}'),
  ('wapipe._memory_lock_key(text,text)', '{}'),
  ('wapipe._memory_sessions(text[],text[])', '{}'),
  ('wapipe._message_contexts(text[],text[],text[],text[],boolean[],text,text[],integer,interval)', '{}'),
  ('wapipe._messages_of_items(wapipe.webhook_item[])', '{}'),
  ('wapipe._one_message_post(jsonb)', '{}'),
  ('wapipe._inbound_message_of(text,jsonb,jsonb,text,text,integer,integer,integer,integer,integer)', '{}'),
  ('wapipe._sender_contact(text,text,jsonb)', '{}'),
  ('wapipe._user_changes(text,text,text,text,text,text,text,text,text,text)', '{}'),
  ('wapipe._user_has_row(text,text,text)', '{}'),
  ('wapipe._outbox_held(bigint,text)', '{}'),
  ('wapipe._partition_is_past(regclass,timestamp with time zone)', '{}'),
  ('wapipe._raise_claim_lost(text)', '{}'),
  ('wapipe._recent_agents(text[])', '{}'),
  ('wapipe._release_conversation_lease(text)', '{}'),
  ('wapipe._release_conversation_leases(text[])', '{}'),
  ('wapipe._remember_staff_turn(text,text)', '{}'),
  ('wapipe._setting(text)', '{}'),
  ('wapipe._setting_num(text)', '{}'),
  ('wapipe._status_rank(text)', '{}'),
  ('wapipe._store_messages(wapipe.inbound_message[],bigint[],text[],timestamp with time zone)', '{}'),
  ('wapipe._store_other_items(wapipe.webhook_item[],bigint[],jsonb[])', '{}'),
  ('wapipe._take_rate_tokens(text[],integer,interval,integer)', '{}'),
  ('wapipe._user_key_of(text,text)', '{}'),
  ('wapipe._wake_deferred(text)', '{}'),
  ('wapipe._wake_workers()', '{}'),
  ('wapipe._webhook_items(jsonb[])', '{}'),
  ('wapipe._window_closes_at(text)', '{}'),
  ('wapipe._windows_close_at(text[])', '{}'),
  ('wapipe._with_identity(jsonb,text,text,text,text,text,text,text)', '{}'),
  ('wapipe._workflow_refusal(bigint,text,text)', '{}')
;

select is_empty($$
  select p.oid::regprocedure::text from pg_proc p
  where p.pronamespace = 'wapipe'::regnamespace
  except
  select g.signature from grants_matrix g $$,
  'every wapipe function is in the grants matrix');
select is_empty($$
  select g.signature from grants_matrix g
  except
  select p.oid::regprocedure::text from pg_proc p
  where p.pronamespace = 'wapipe'::regnamespace $$,
  'every function of the grants matrix exists');
select is_empty($$
  select p.oid::regprocedure::text || ' -> ' || r.role
         || case when r.role = any (g.roles) then ': expected EXECUTE, not granted'
                 else ': granted, not in the matrix' end
  from pg_proc p
  join grants_matrix g on g.signature = p.oid::regprocedure::text
  cross join (values ('wapipe_ingress'), ('wapipe_worker'), ('wapipe_monitor'), ('public')) r(role)
  where p.pronamespace = 'wapipe'::regnamespace
    and has_function_privilege(r.role, p.oid, 'EXECUTE') <> (r.role = any (g.roles))
  order by 1 $$,
  'each role may EXECUTE exactly the functions the matrix gives it');

-- each role, really connected as it: what the matrix grants runs, the rest is refused
set local role wapipe_worker;
select lives_ok($$ select * from wapipe.get_next_queue_message('w', 30, 10) $$, 'the worker role claims');
select throws_ok($$ select * from wapipe.requeue_dead_letters(error_like => '%') $$, '42501', null,
  'the worker role is refused an owner-only function (dead-letter replay)');
reset role;
set local role wapipe_ingress;
select throws_ok($$ select * from wapipe.get_next_queue_message('w', 30, 10) $$, '42501', null,
  'the ingress role is refused a worker function (claim)');
select throws_ok($$ select count(*) from wapipe.processed_messages $$, '42501', null,
  'the ingress role cannot read the tables');
reset role;
set local role wapipe_monitor;
select lives_ok($$ select * from wapipe.system_health() $$, 'the monitor role gets the health summary');
select throws_ok($$ select wapipe.schedule_message_retry(1, 'w', 'x') $$, '42501', null,
  'the monitor role is refused a worker function (retry)');
reset role;

select * from finish();
rollback;
