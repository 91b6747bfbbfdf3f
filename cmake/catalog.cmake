cmake_minimum_required(VERSION 3.25)
# Writes OUT, the catalog of one build: what the domain folders in DOMAINS
# (comma-separated directories, domains/<name>/) contribute to each layer's
# registry, so that adding a folder edits no shared list.
#   - infra::migrations(): RUNTIME_SQL (schemas/sql/V*.sql) and every
#     <domain>/read/V*.sql, in file-name order (a name used twice is an error);
#   - domain::all_personal_fields(): what <domain>/events/*.json mark
#     "x-personal" (a property without the mark is an error), with the
#     second person of a text about two ("also"), and the marked properties
#     of an array's items as "<array>[].<property>";
#   - domain::all_person_refs(): the person fields each schema lists in
#     "x-refers" (each must be a property of it);
#   - domain::domains(): lethe::domain::<name>::spec() of each decide/ part;
#   - projections::read_models(): lethe::projections::<name>_read_models()
#     of each read/ part;
#   - api::domain_routes(): lethe::api::<name>_routes() of each http/ part;
#   - api::openapi_document(): OPENAPI_BASE with the paths and component
#     schemas of every <domain>/http/*.openapi.json merged in (a path or
#     schema defined twice is an error), also written to OPENAPI_OUT.
string(REPLACE "," ";" DOMAINS "${DOMAINS}")
string(REPLACE "," ";" RUNTIME_SQL "${RUNTIME_SQL}")

set(migration_files ${RUNTIME_SQL})
set(personal "")
set(refs "")
set(spec_decls "")
set(spec_refs "")
set(read_decls "")
set(read_calls "")
set(route_decls "")
set(route_calls "")
file(READ ${OPENAPI_BASE} openapi)
set(names "")

# Adds the members of SECTION (a JSON path: "paths", or "components;schemas")
# of the fragment FRAGMENT to the document in the variable `openapi`.
function(merge_section fragment file)
  set(section ${ARGN})
  string(JSON count ERROR_VARIABLE missing LENGTH "${fragment}" ${section})
  if(missing OR count EQUAL 0)
    return()
  endif()
  math(EXPR last "${count} - 1")
  foreach(i RANGE ${last})
    string(JSON key MEMBER "${fragment}" ${section} ${i})
    string(JSON value GET "${fragment}" ${section} "${key}")
    string(JSON existing ERROR_VARIABLE absent GET "${openapi}" ${section} "${key}")
    if(NOT absent)
      message(FATAL_ERROR "${file}: ${section} '${key}' is defined twice in the OpenAPI document")
    endif()
    string(JSON openapi SET "${openapi}" ${section} "${key}" "${value}")
  endforeach()
  set(openapi "${openapi}" PARENT_SCOPE)
endfunction()

foreach(dir IN LISTS DOMAINS)
  get_filename_component(name ${dir} NAME)
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "${dir}: a domain folder's name must be a C++ identifier in lower case")
  endif()
  if(name IN_LIST names)
    message(FATAL_ERROR "${dir}: a second domain folder named ${name}")
  endif()
  list(APPEND names ${name})

  file(GLOB sql ${dir}/read/V*.sql)
  list(APPEND migration_files ${sql})

  file(GLOB schemas ${dir}/events/*.json)
  list(SORT schemas)
  foreach(path IN LISTS schemas)
    get_filename_component(file ${path} NAME)
    if(NOT file MATCHES "^([a-z_]+\\.[a-z_]+)\\.v([0-9]+)\\.json$")
      message(FATAL_ERROR "${path}: an event schema is named <type>.v<version>.json")
    endif()
    set(type ${CMAKE_MATCH_1})
    set(version ${CMAKE_MATCH_2})
    file(READ ${path} schema)
    string(JSON count ERROR_VARIABLE err LENGTH "${schema}" properties)
    if(err)
      message(FATAL_ERROR "${path}: no properties (${err})")
    endif()
    math(EXPR last "${count} - 1")
    foreach(i RANGE ${last})
      string(JSON field MEMBER "${schema}" properties ${i})
      string(JSON kind ERROR_VARIABLE err TYPE "${schema}" properties ${field} x-personal)
      if(err)
        message(FATAL_ERROR "${path}: property '${field}' lacks x-personal (false, or {\"subject\": FIELD})")
      endif()
      if(kind STREQUAL "OBJECT")
        string(JSON subject GET "${schema}" properties ${field} x-personal subject)
        string(JSON subject_kind ERROR_VARIABLE err TYPE "${schema}" properties ${subject})
        if(err)
          message(FATAL_ERROR "${path}: '${field}' names subject field '${subject}', which the schema lacks")
        endif()
        string(JSON also ERROR_VARIABLE no_also GET "${schema}" properties ${field} x-personal also)
        if(no_also)
          set(also "")
        else()
          string(JSON also_kind ERROR_VARIABLE err TYPE "${schema}" properties ${also})
          if(err)
            message(FATAL_ERROR "${path}: '${field}' names a second person in '${also}', which the schema lacks")
          endif()
        endif()
        # A key domain of the field's own ("credentials": a value no key
        # release ever opens), else the one of its event's topic.
        string(JSON key_domain ERROR_VARIABLE no_domain GET "${schema}" properties ${field} x-personal domain)
        if(no_domain)
          set(key_domain "")
        endif()
        string(APPEND personal
               "      {\"${type}\", ${version}, \"${field}\", \"${subject}\", \"${also}\", \"${key_domain}\"},\n")
      elseif(NOT kind STREQUAL "BOOLEAN")
        message(FATAL_ERROR "${path}: '${field}': x-personal must be false or {\"subject\": FIELD}")
      endif()
      # An array of objects: each item property is marked too, and a personal
      # one names its person among the top-level properties ("lines[].specs").
      string(JSON item_count ERROR_VARIABLE no_items LENGTH "${schema}" properties ${field} items properties)
      if(NOT no_items AND item_count GREATER 0)
        math(EXPR item_last "${item_count} - 1")
        foreach(j RANGE ${item_last})
          string(JSON item MEMBER "${schema}" properties ${field} items properties ${j})
          string(JSON item_kind ERROR_VARIABLE err TYPE "${schema}" properties ${field} items properties ${item} x-personal)
          if(err)
            message(FATAL_ERROR "${path}: property '${field}[].${item}' lacks x-personal (false, or {\"subject\": FIELD})")
          endif()
          if(item_kind STREQUAL "OBJECT")
            string(JSON subject GET "${schema}" properties ${field} items properties ${item} x-personal subject)
            string(JSON subject_kind ERROR_VARIABLE err TYPE "${schema}" properties ${subject})
            if(err)
              message(FATAL_ERROR "${path}: '${field}[].${item}' names subject field '${subject}', which the schema lacks at its top level")
            endif()
            string(APPEND personal "      {\"${type}\", ${version}, \"${field}[].${item}\", \"${subject}\", \"\"},\n")
          elseif(NOT item_kind STREQUAL "BOOLEAN")
            message(FATAL_ERROR "${path}: '${field}[].${item}': x-personal must be false or {\"subject\": FIELD}")
          endif()
        endforeach()
      endif()
    endforeach()
    string(JSON ref_count ERROR_VARIABLE no_refs LENGTH "${schema}" x-refers)
    if(NOT no_refs AND ref_count GREATER 0)
      math(EXPR last "${ref_count} - 1")
      foreach(i RANGE ${last})
        string(JSON field GET "${schema}" x-refers ${i})
        string(JSON field_kind ERROR_VARIABLE err TYPE "${schema}" properties ${field})
        if(err)
          message(FATAL_ERROR "${path}: x-refers names '${field}', which the schema lacks")
        endif()
        string(APPEND refs "      {\"${type}\", ${version}, \"${field}\"},\n")
      endforeach()
    endif()
  endforeach()

  if(IS_DIRECTORY ${dir}/decide)
    string(APPEND spec_decls "namespace lethe::domain::${name} {\nconst DomainSpec& spec();\n}\n")
    string(APPEND spec_refs "      &${name}::spec(),\n")
  endif()
  file(GLOB read_code ${dir}/read/*.cpp)
  if(read_code)
    string(APPEND read_decls "std::vector<ReadModel> ${name}_read_models();\n")
    string(APPEND read_calls "    add(${name}_read_models());\n")
  endif()
  file(GLOB http_code ${dir}/http/*.cpp)
  if(http_code)
    string(APPEND route_decls "DomainRoutes ${name}_routes();\n")
    string(APPEND route_calls "      ${name}_routes(),\n")
  endif()
  file(GLOB fragments ${dir}/http/*.openapi.json)
  foreach(path IN LISTS fragments)
    file(READ ${path} fragment)
    merge_section("${fragment}" ${path} paths)
    merge_section("${fragment}" ${path} components schemas)
  endforeach()
endforeach()

set(sorted "")
foreach(f IN LISTS migration_files)
  get_filename_component(n ${f} NAME)
  foreach(seen IN LISTS sorted)
    if(seen MATCHES "^${n}\\|")
      message(FATAL_ERROR "${f}: migration ${n} exists twice")
    endif()
  endforeach()
  list(APPEND sorted "${n}|${f}")
endforeach()
list(SORT sorted)
set(migrations "")
foreach(item IN LISTS sorted)
  string(REPLACE "|" ";" parts "${item}")
  list(GET parts 0 n)
  list(GET parts 1 path)
  file(READ ${path} sql)
  string(APPEND migrations "    {\"${n}\", R\"lethe_sql(${sql})lethe_sql\"},\n")
endforeach()

file(WRITE ${OPENAPI_OUT}.tmp "${openapi}\n")
file(COPY_FILE ${OPENAPI_OUT}.tmp ${OPENAPI_OUT} ONLY_IF_DIFFERENT)

list(JOIN names ", " name_list)
file(WRITE ${OUT}.tmp "// Generated by cmake/catalog.cmake from the domain folders ${name_list}. Do not edit.
#include \"lethe/api/server.hpp\"
#include \"lethe/domain/personal.hpp\"
#include \"lethe/domain/registry.hpp\"
#include \"lethe/infra/migrations.hpp\"
#include \"lethe/projections/projection.hpp\"
#include \"route_kit.hpp\"

${spec_decls}
namespace lethe::projections {
${read_decls}}

namespace lethe::api {
${route_decls}}

namespace lethe::infra {

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> all{
${migrations}  };
  return all;
}

}  // namespace lethe::infra

namespace lethe::domain {

const std::vector<PersonalField>& all_personal_fields() {
  static const std::vector<PersonalField> all{
${personal}  };
  return all;
}

const std::vector<PersonRef>& all_person_refs() {
  static const std::vector<PersonRef> all{
${refs}  };
  return all;
}

const std::vector<const DomainSpec*>& domains() {
  static const std::vector<const DomainSpec*> all{
${spec_refs}  };
  return all;
}

}  // namespace lethe::domain

namespace lethe::projections {

const std::vector<ReadModel>& read_models() {
  static const std::vector<ReadModel> all = [] {
    std::vector<ReadModel> out;
    const auto add = [&](std::vector<ReadModel> part) { out.insert(out.end(), part.begin(), part.end()); };
${read_calls}    return out;
  }();
  return all;
}

}  // namespace lethe::projections

namespace lethe::api {

const std::vector<DomainRoutes>& domain_routes() {
  static const std::vector<DomainRoutes> all{
${route_calls}  };
  return all;
}

const std::string& openapi_document() {
  static const std::string doc = R\"lethe_openapi(${openapi}
)lethe_openapi\";
  return doc;
}

}  // namespace lethe::api
")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
