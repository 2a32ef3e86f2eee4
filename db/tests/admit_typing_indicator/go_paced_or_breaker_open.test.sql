-- admit_typing_indicator: takes a token of the number's send bucket while the breaker is closed; paced when none is left; never while the breaker is not closed.
begin;
select plan(7);
select wapipe_tests.reset();

select is((select row(verdict, granted, retry_after_ms)::text from wapipe.admit_typing_indicator(
  '300100200300400', 'whatsapp-graph', 2, interval '1 hour', 1)), '(go,1,0)',
  'an unknown breaker is closed: go, one token');
select is((select tokens::int from wapipe.rate_limit_buckets where key = 'send:300100200300400'), 1,
  'the token came from the sender''s bucket of that number');
select is((select verdict from wapipe.admit_typing_indicator('300100200300400', 'whatsapp-graph', 2, interval '1 hour', 1)),
  'go', 'second token');
select is((select row(verdict, granted)::text from wapipe.admit_typing_indicator(
  '300100200300400', 'whatsapp-graph', 2, interval '1 hour', 1)), '(paced,0)', 'no token left: paced');
select cmp_ok((select retry_after_ms from wapipe.admit_typing_indicator(
  '300100200300400', 'whatsapp-graph', 2, interval '1 hour', 1)), '>', 0, 'paced says how long until the next token');
insert into wapipe.breakers (name, state, opened_at) values ('graph-b', 'half_open', now());
select is((select row(verdict, granted)::text from wapipe.admit_typing_indicator(
  '300100200300401', 'graph-b', 2, interval '1 hour', 1)), '(breaker_open,0)',
  'a half-open breaker: no typing (its trial slots are the sends'')');
select is((select half_open_in_flight from wapipe.breakers where name = 'graph-b'), 0, 'no trial slot taken');
select * from finish();
rollback;
