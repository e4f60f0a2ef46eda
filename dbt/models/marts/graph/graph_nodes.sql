{{ config(materialized='table') }}

-- One row per node of the knowledge graph: every document (Work), every cited work that
-- is not in the corpus (a Work with in_corpus = false), and the Authors, Venues and
-- Topics the documents name. Keys are computed by the same macros as graph_edges.
with documents as (
    select * from {{ ref('scientific_documents') }}
),

works as (
    select
        {{ graph_node_columns('Work', 'document_id', name='title', doi='doi',
                              publication_date='publication_date', cited_by_count='cited_by_count',
                              url='url', record_hash='record_hash', in_corpus='true') }}
    from documents
),

cited_outside_corpus as (
    select distinct
        {{ graph_node_columns('Work', 'e.target_key', in_corpus='false') }}
    from {{ ref('graph_edges') }} as e
    where e.edge_type = 'CITES'
      and not exists (select 1 from documents as d where d.document_id = e.target_key)
),

-- Name and ORCID of an author (or a venue's spelling) come from the most recently updated
-- document that names it, so they follow corrections upstream.
author_mentions as (
    select
        {{ graph_author_key('d.source', graph_field('a', 'name'), graph_field('a', 'orcid'), graph_field('a', 'id')) }} as node_key,
        trim({{ graph_field('a', 'name') }}) as name,
        nullif(trim({{ graph_field('a', 'orcid') }}), '') as orcid,
        row_number() over (
            partition by {{ graph_author_key('d.source', graph_field('a', 'name'), graph_field('a', 'orcid'), graph_field('a', 'id')) }}
            order by d.updated_at desc, d.document_id, a.position
        ) as mention_rank
    from documents as d
    {{ graph_unnest('d.authors', 'a') }}
),

authors as (
    select
        {{ graph_node_columns('Author', 'node_key', name='name', orcid='orcid') }}
    from author_mentions
    where node_key is not null and mention_rank = 1
),

venue_mentions as (
    select
        {{ graph_name_key('venue') }} as node_key,
        trim(venue) as name,
        row_number() over (
            partition by {{ graph_name_key('venue') }}
            order by updated_at desc, document_id
        ) as mention_rank
    from documents
),

venues as (
    select
        {{ graph_node_columns('Venue', 'node_key', name='name') }}
    from venue_mentions
    where node_key is not null and mention_rank = 1
),

topic_mentions as (
    select
        {{ graph_name_key(graph_text('t')) }} as node_key,
        trim({{ graph_text('t') }}) as name,
        row_number() over (
            partition by {{ graph_name_key(graph_text('t')) }}
            order by d.updated_at desc, d.document_id, t.position
        ) as mention_rank
    from documents as d
    {{ graph_unnest('d.topics', 't') }}
),

topics as (
    select
        {{ graph_node_columns('Topic', 'node_key', name='name') }}
    from topic_mentions
    where node_key is not null and mention_rank = 1
),

unioned as (
    select * from works
    union all
    select * from cited_outside_corpus
    union all
    select * from authors
    union all
    select * from venues
    union all
    select * from topics
),

final as (
    select label || ':' || node_key as node_id, *
    from unioned
)

select * from final
