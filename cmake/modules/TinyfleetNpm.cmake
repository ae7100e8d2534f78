# tf_npm_ci(<out_dir> COMMENT <text>): installs the npm packages of the
# package.json / package-lock.json in the current source directory into
# <out_dir>/node_modules with `npm ci`, producing <out_dir>/npm-ci.stamp
# (depend on it). Re-run only when the lockfile changes; node_modules never
# lands in the source tree. Uses the npm cache first (TF_NPM_CACHE names
# another cache; TF_NPM_OFFLINE forbids the network). Needs TF_NPM.
function(tf_npm_ci out_dir)
  cmake_parse_arguments(A "" "COMMENT" "" ${ARGN})
  file(MAKE_DIRECTORY ${out_dir})
  set(npm_flags ci --no-audit --no-fund --loglevel=error)
  if(TF_NPM_OFFLINE)
    list(APPEND npm_flags --offline)
  else()
    list(APPEND npm_flags --prefer-offline)
  endif()
  if(TF_NPM_CACHE)
    list(APPEND npm_flags --cache ${TF_NPM_CACHE})
  endif()
  add_custom_command(
    OUTPUT ${out_dir}/npm-ci.stamp
    COMMAND ${CMAKE_COMMAND} -E copy_if_different
            ${CMAKE_CURRENT_SOURCE_DIR}/package.json
            ${CMAKE_CURRENT_SOURCE_DIR}/package-lock.json ${out_dir}
    COMMAND ${TF_NPM} ${npm_flags}
    COMMAND ${CMAKE_COMMAND} -E touch ${out_dir}/npm-ci.stamp
    WORKING_DIRECTORY ${out_dir}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/package.json
            ${CMAKE_CURRENT_SOURCE_DIR}/package-lock.json
    COMMENT "${A_COMMENT}"
    VERBATIM)
endfunction()
