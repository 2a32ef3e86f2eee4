-- admit_typing_indicator with tokens > 1 (a worker's reservoir): takes as many as asked while the bucket has them, never more than it holds, and no more than max_per_window in one call.
begin;
select plan(6);
select wapipe_tests.reset();

select is((select row(verdict, granted)::text from wapipe.admit_typing_indicator(
  '300100200300400', 'whatsapp-graph', 8, interval '1 hour', 3)), '(go,3)', 'three asked, three taken');
select is((select tokens::int from wapipe.rate_limit_buckets where key = 'send:300100200300400'), 5,
  'all three from the sender''s bucket of that number');
select is((select row(verdict, granted)::text from wapipe.admit_typing_indicator(
  '300100200300400', 'whatsapp-graph', 8, interval '1 hour', 7)), '(go,5)',
  'seven asked of five left: the five taken');
select is((select tokens::int from wapipe.rate_limit_buckets where key = 'send:300100200300400'), 0,
  'the bucket is empty, not negative');
select is((select row(verdict, granted)::text from wapipe.admit_typing_indicator(
  '300100200300400', 'whatsapp-graph', 8, interval '1 hour', 4)), '(paced,0)', 'then paced');
select is((select granted from wapipe.admit_typing_indicator(
  '300100200300402', 'whatsapp-graph', 4, interval '1 hour', 100)), 4,
  'a new number''s bucket: at most max_per_window in one call');
select * from finish();
rollback;
