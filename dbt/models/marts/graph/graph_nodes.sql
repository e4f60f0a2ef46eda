{{ config(materialized='table') }}

-- One row per node of the knowledge graph: every document (Work), every cited work that
-- is not in the corpus (a Work with in_corpus = false), and the Authors, Venues and
-- Topics the documents name. Keys are computed by the same macros as graph_edges.
with documents as (
    select * from {{ ref('scientific_documents') }}
),

works as (
    select
        'Work' as label,
        document_id as node_key,
        title as name,
        doi,
        publication_date,
        cited_by_count,
        url,
        cast(null as varchar) as orcid,
        record_hash,
        true as in_corpus
    from documents
),

cited_outside_corpus as (
    select distinct
        'Work' as label,
        e.target_key as node_key,
        cast(null as varchar) as name,
        cast(null as varchar) as doi,
        cast(null as date) as publication_date,
        cast(null as bigint) as cited_by_count,
        cast(null as varchar) as url,
        cast(null as varchar) as orcid,
        cast(null as varchar) as record_hash,
        false as in_corpus
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
        'Author' as label,
        node_key,
        name,
        cast(null as varchar) as doi,
        cast(null as date) as publication_date,
        cast(null as bigint) as cited_by_count,
        cast(null as varchar) as url,
        orcid,
        cast(null as varchar) as record_hash,
        cast(null as boolean) as in_corpus
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
        'Venue' as label,
        node_key,
        name,
        cast(null as varchar) as doi,
        cast(null as date) as publication_date,
        cast(null as bigint) as cited_by_count,
        cast(null as varchar) as url,
        cast(null as varchar) as orcid,
        cast(null as varchar) as record_hash,
        cast(null as boolean) as in_corpus
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
        'Topic' as label,
        node_key,
        name,
        cast(null as varchar) as doi,
        cast(null as date) as publication_date,
        cast(null as bigint) as cited_by_count,
        cast(null as varchar) as url,
        cast(null as varchar) as orcid,
        cast(null as varchar) as record_hash,
        cast(null as boolean) as in_corpus
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
