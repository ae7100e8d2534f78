# Node link: arbitrary bytes into the streaming frame decoder, every message
# decoder and the virtual node's request handler.
tf_fuzz_target(link_decoder
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/link_decoder_fuzz.c
  DEPS tn_sim tn_link)
