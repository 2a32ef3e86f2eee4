-- Only wapipe_worker may call the outbox sender functions; wapipe_ingress, wapipe_monitor and PUBLIC may not.
begin;
select plan(32);
select wapipe_tests.reset();

create temp table sender_functions (name text, args text[]);
insert into sender_functions values
  ('claim_outbox', array['text', 'integer', 'integer']),
  ('mark_outbox_sent', array['bigint', 'text', 'text']),
  ('mark_outbox_failed', array['bigint', 'text', 'integer', 'text', 'boolean', 'integer']),
  ('mark_outbox_unknown', array['bigint', 'text', 'text']),
  ('mark_outbox_dry_run', array['bigint', 'text']),
  ('release_outbox', array['bigint[]', 'text', 'integer']),
  ('start_outbox_send', array['bigint', 'text', 'integer', 'interval']);

select function_privs_are('wapipe', f.name, f.args, r.role, case when r.role = 'wapipe_worker'
         then array['EXECUTE'] else array[]::text[] end,
         format('%s: %s', f.name, case when r.role = 'wapipe_worker' then r.role || ' may execute' else r.role || ' may not' end))
from sender_functions f
cross join (values ('wapipe_worker'), ('wapipe_ingress'), ('wapipe_monitor'), ('public')) r(role)
order by f.name, r.role;

select function_privs_are('wapipe', '_outbox_held', array['bigint', 'text'], 'wapipe_worker', array[]::text[],
  'the private _outbox_held is granted to nobody');

set local role wapipe_worker;
select lives_ok($$ select * from wapipe.claim_outbox('sender-1', 10, 30) $$, 'the worker role claims');
reset role;
set local role wapipe_ingress;
select throws_ok($$ select * from wapipe.claim_outbox('sender-1', 10, 30) $$, '42501', null,
  'the ingress role is refused claim_outbox');
reset role;
set local role wapipe_monitor;
select throws_ok($$ select wapipe.mark_outbox_sent(1, 'sender-1', 'wamid.x') $$, '42501', null,
  'the monitor role is refused mark_outbox_sent');
reset role;

select * from finish();
rollback;
